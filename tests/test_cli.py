"""The file-in/file-out command, the demo, and the documented vspipe | ffmpeg pipeline, on real encodes."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from convlstm.files.atomic import partial_files
from convlstm.video import ffmpeg_exe
from helpers import VSPIPE

pytestmark = pytest.mark.slow   # every test here runs the real command in a new process

REPO = Path(__file__).resolve().parents[1]
CONVLSTM = str(Path(sys.executable).with_name("convlstm"))
DEMO = REPO / "core" / "assets" / "demo.mp4"


def cli(*args, timeout=300, cwd=None):
    return subprocess.run([CONVLSTM, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def probe(path):
    clip = vs.core.bs.VideoSource(source=str(path), cachemode=0)
    return clip


def has_audio(path):
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return "Audio:" in out.stderr


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    """The first 10 frames of the demo clip with its audio: a small real H.264 + AAC file."""
    path = tmp_path_factory.mktemp("clips") / "short.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(DEMO), "-frames:v", "10", "-t", str(10 / 24),
                    "-c:v", "libx264", "-crf", "18", "-c:a", "copy", str(path)], check=True)
    return path


def planes(frame):
    return [np.asarray(frame[p]).copy() for p in range(frame.format.num_planes)]


def test_round_trip_keeps_source_frames_rate_audio_and_duration(short_clip, tmp_path):
    out = tmp_path / "out.mkv"
    r = cli("interpolate", short_clip, out, "--codec", "ffv1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "20 frames at 48.000 fps" in r.stdout
    src, dst = probe(short_clip), probe(out)
    assert dst.num_frames == 2 * src.num_frames and dst.fps == 2 * src.fps
    assert dst.format.id == src.format.id
    for i in range(src.num_frames):  # lossless codec: the source frames must come back bit for bit
        assert all(np.array_equal(a, b) for a, b in zip(planes(src.get_frame(i)), planes(dst.get_frame(2 * i))))
    assert has_audio(out)
    assert not partial_files(out)


def test_colour_round_trip_error_is_bounded(tmp_path):
    """A still clip: interpolated frames must equal the source up to the YUV -> RGB -> YUV round trip."""
    still = tmp_path / "still.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(DEMO), "-vf", "select=eq(n\\,5),loop=5:1:0",
                    "-frames:v", "5", "-c:v", "ffv1", "-an", str(still)], check=True)
    out = tmp_path / "out.mkv"
    assert cli("interpolate", still, out, "--codec", "ffv1", "--weights", "untrained", "--quiet").returncode == 0
    src, dst = probe(still), probe(out)
    for i in range(src.num_frames - 1):
        diffs = [np.abs(a.astype(int) - b) for a, b in zip(planes(src.get_frame(i)), planes(dst.get_frame(2 * i + 1)))]
        # Stated tolerance (README): luma within 1 level; 4:2:0 chroma goes through bicubic up/down sampling,
        # mean error under 0.25 levels, at most 8 levels on the sharpest chroma edges.
        assert diffs[0].max() <= 1, f"luma moved by {diffs[0].max()}"
        for d in diffs[1:]:
            assert d.mean() < 0.25 and d.max() <= 8, (d.mean(), d.max())


def installed_vpy() -> Path:
    r = cli("vpy")
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip())
    assert path.is_file() and "site-packages" in str(path), path   # shipped in the wheel, not the checkout
    return path


def readme_pipeline() -> str:
    """The vspipe | ffmpeg line of the README, exactly as written there."""
    lines = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("vspipe ")]
    assert len(lines) == 1, lines
    return lines[0]


def test_the_readme_pipeline_runs_as_written(short_clip, tmp_path):
    """In a shell whose PATH has the venv's commands and no ffmpeg of its own (a fresh machine)."""
    (tmp_path / "in.mp4").write_bytes(short_clip.read_bytes())
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if k not in ("PWD",)}
    env["PATH"] = f"{venv_bin}:/usr/bin:/bin"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", readme_pipeline()], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1000:]
    clip = probe(tmp_path / "out.mkv")
    assert clip.num_frames == 20 and clip.fps == 48


def test_demo_writes_video_and_side_by_side(tmp_path):
    r = cli("demo", "--out", tmp_path / "demo", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "96 frames at 48.000 fps" in r.stdout and "s wall" in r.stdout
    assert probe(tmp_path / "demo" / "demo_2x.mkv").num_frames == 96
    assert (tmp_path / "demo" / "side_by_side.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["interpolate", "{tmp}/missing.mp4", "{tmp}/o.mkv"], "does not exist"),
    (["interpolate", "{tmp}/garbage.mp4", "{tmp}/o.mkv"], "cannot decode"),
    (["interpolate", "{clip}", "{tmp}/exists.mkv"], "exists; pass --force"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--factor", "1"], "--factor must be above 1"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--crf", "99"], "--crf must be in 0..63"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--fps", "1e400"], "is no rate a video has"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--tile", "1e20"], "invalid int value: '1e20'"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--tile", "8"], "--tile must be 0 (whole frames) or a side of"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--detail", "2"], "detail must be in [0, 1]"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--weights", "paper", "--detail", "1"], "leave --detail unset"),
    (["interpolate", "{clip}", "{tmp}/nodir/o.mkv"], "does not exist"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--device", "tpu"], "device 'tpu' is not valid"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--weights", "{tmp}/garbage.mp4"], "not a readable checkpoint"),
    (["interpolate", "{clip}", "{tmp}/o.mkv", "--codec", "nosuchcodec"], "Unknown encoder 'nosuchcodec'"),
    (["interpolate", "{clip}", "{tmp}/o.webm", "--codec", "libx264"],
     "Only VP8 or VP9 or AV1 video"),   # ffmpeg's reason (before any frame is computed), not its last line
])
def test_bad_input_is_one_clear_line(args, message, short_clip, tmp_path):
    (tmp_path / "garbage.mp4").write_text("this is not a video")
    (tmp_path / "exists.mkv").write_bytes(b"keep me")
    r = cli(*[a.format(tmp=tmp_path, clip=short_clip) for a in args])
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.startswith("convlstm interpolate:")]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert (tmp_path / "exists.mkv").read_bytes() == b"keep me"
    assert not (tmp_path / "o.mkv").exists() and not partial_files(tmp_path / "o.mkv")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_and_termination_leave_no_output(sig, tmp_path):
    out = tmp_path / "o.mkv"
    # 8x: the job must outlast x264's lookahead, which delays the partial file's first bytes (at 2x the
    # short demo clip could finish within a second of the file appearing)
    proc = subprocess.Popen([CONVLSTM, "interpolate", str(DEMO), str(out), "--quiet", "--factor", "8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not partial_files(out) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "finished before it could be interrupted"
    time.sleep(1.0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not partial_files(out)


def test_rgb_input_round_trips_through_the_raw_pipe(tmp_path):
    src_path, out = tmp_path / "rgb.mkv", tmp_path / "out.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "6",
                    "-c:v", "ffv1", "-pix_fmt", "gbrp", str(src_path)], check=True)
    r = cli("interpolate", src_path, out, "--codec", "ffv1", "--quiet")
    assert r.returncode == 0, r.stderr
    src, dst = probe(src_path), probe(out)
    assert dst.format.id == vs.RGB24 and dst.num_frames == 12 and dst.fps == 20
    for i in range(6):  # planes in the right order (VapourSynth R, G, B vs ffmpeg's gbrp G, B, R)
        assert all(np.array_equal(a, b) for a, b in zip(planes(src.get_frame(i)), planes(dst.get_frame(2 * i))))


def test_debug_keeps_the_whole_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("optim: {momentum: 0.9}\n")
    plain = cli("train", "--config", tmp_path / "bad.yaml")
    debug = cli("train", "--config", tmp_path / "bad.yaml", "--debug")
    for r in (plain, debug):
        assert r.returncode == 2 and "convlstm train: unknown config key(s) optim.momentum" in r.stderr, r.stderr
    assert "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "train/config.py" in debug.stderr


def test_nothing_is_written_through_planted_links_or_onto_the_input(short_clip, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "o.mkv"
    for name in (".o.convlstm-partial.mkv", ".o.mkv.convlstm-partial.mkv"):   # the names a guesser would plant
        (tmp_path / name).symlink_to(victim)
    r = cli("interpolate", short_clip, out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "keep me" and out.is_file() and not out.is_symlink()
    link = tmp_path / "link.mkv"          # the output is a link to the input: refused even with --force
    link.symlink_to(short_clip)
    before = short_clip.read_bytes()
    for target in (short_clip, link):
        r = cli("interpolate", short_clip, target, "--force", "--quiet")
        assert r.returncode == 2 and "is the input file" in r.stderr, r.stderr
    assert short_clip.read_bytes() == before


def test_a_folder_or_a_file_where_the_other_belongs_is_refused_before_any_work(short_clip, tmp_path):
    (tmp_path / "dir.mkv").mkdir()
    for extra in ([], ["--force"]):
        r = cli("interpolate", short_clip, tmp_path / "dir.mkv", *extra, timeout=60)
        assert r.returncode == 2 and "is a folder; name a file in it" in r.stderr, r.stderr
    r = cli("interpolate", short_clip, tmp_path / "o.xyz", timeout=60)
    assert r.returncode == 2 and "not a container" in r.stderr, r.stderr
    if not os.access("/sys", os.W_OK):   # a folder nobody may write into (read-only in containers)
        r = cli("interpolate", short_clip, "/sys/o.mkv", timeout=60)
        assert r.returncode == 2 and "cannot write into '/sys'" in r.stderr and "Traceback" not in r.stderr, r.stderr
    (tmp_path / "file").write_text("x")
    r = cli("demo", "--out", tmp_path / "file", "--quiet", timeout=60)
    assert r.returncode == 2 and "is a file; the demo writes a folder" in r.stderr and "Traceback" not in r.stderr


def test_y4m_output_holds_the_frames(short_clip, tmp_path):
    r = cli("interpolate", short_clip, tmp_path / "o.y4m", "--quiet")
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path / "o.y4m").num_frames == 2 * probe(short_clip).num_frames


def test_names_with_a_colon_work(short_clip, tmp_path):
    (tmp_path / "rec-10:30.mkv").write_bytes(short_clip.read_bytes())
    r = cli("interpolate", "rec-10:30.mkv", "take1:final.mkv", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path / "take1:final.mkv").num_frames == 2 * probe(short_clip).num_frames


def vpy(*args, cwd, env_pwd=None, script=None):
    """The installed interpolate.vpy (or a copy) through the real vspipe, printing clip info (-i)."""
    env = dict(os.environ, PWD=str(env_pwd or cwd))
    cmd = [VSPIPE, "-i", *[x for a in args for x in ("-a", a)], str(script or installed_vpy()), "-"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def test_the_vpy_checks_its_arguments_and_resolves_paths_one_way(short_clip, tmp_path, test_weights):
    (tmp_path / "in.mp4").write_bytes(short_clip.read_bytes())
    (tmp_path / "w.pt").write_bytes(test_weights.read_bytes())
    r = vpy("input=in.mp4", "weights=w.pt", "factor=4", cwd=tmp_path)     # both relative to where vspipe ran
    assert r.returncode == 0 and "Frames: 40" in r.stdout, r.stderr
    r = vpy("input=in.mp4", "weights=w.pt", "fps_num=60", "fps_den=1", cwd=tmp_path)
    assert r.returncode == 0 and "FPS: 60/1" in r.stdout, r.stderr
    r = vpy("input=in.mp4", "dedup=1", "dedup_threshold=0.05", cwd=tmp_path)       # the bundled model: any time
    assert r.returncode == 0 and "Frames: 20" in r.stdout, r.stderr
    for args, message in ((["input=in.mp4", "factr=4"], "unknown argument(s) -a factr"),
                          (["input=in.mp4", "factor=x"], "-a factor needs a number, got 'x'"),
                          (["input=in.mp4", "factor=2.5"], "factor must be a whole number"),
                          (["input=in.mp4", "weights=w.pt", "factor=3"], "interpolates halfway only"),
                          (["input=in.mp4", "dedup_threshold=0.05"], "only applies with dedup=1"),
                          (["factor=2"], "pass the video with -a input=PATH"),
                          (["input=missing.mp4"], "interpolate.vpy: input")):
        r = vpy(*args, cwd=tmp_path)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr[-500:])
    other = tmp_path / "elsewhere"                    # the host's PWD and the script's folder both hold in.mp4
    other.mkdir()
    (other / "in.mp4").write_bytes(b"a different file of the same name")
    scripts = tmp_path / "scripts"                    # a copy of the script, beside its own in.mp4
    scripts.mkdir()
    (scripts / "interpolate.vpy").write_text(installed_vpy().read_text())
    (scripts / "in.mp4").write_bytes(b"also different")
    r = vpy("input=in.mp4", cwd=tmp_path, env_pwd=other, script=scripts / "interpolate.vpy")
    assert r.returncode != 0 and "names two different files" in r.stderr, r.stderr[-500:]
