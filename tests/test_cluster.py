"""Scale-out on a real local Ray cluster (2 CPU workers): pieces joined are the one-machine result (same
frames, timestamps and pixels), also when a worker is killed mid-piece, after Ctrl-C and on resume; Ray's
processes are started and stopped here."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from convlstm.cluster.chunks import CONTEXT, plan_chunks
from convlstm.timing import read_timecodes
from convlstm.video import ffmpeg_exe

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

CONVLSTM = str(Path(sys.executable).with_name("convlstm"))


def test_pieces_cover_every_frame_once_end_at_cuts_nearby_and_carry_context():
    chunks = plan_chunks(100, cuts=[37, 70], length=30)
    assert [(c.first, c.last) for c in chunks] == [(0, 36), (37, 69), (70, 99)]   # ends moved to the cuts
    covered = [f for c in chunks for f in range(c.first, c.last + 1)]
    assert covered == list(range(100))
    far = plan_chunks(100, cuts=[50], length=30)                # a cut out of reach moves nothing
    assert [(c.first, c.last) for c in far] == [(0, 29), (30, 59), (60, 89), (90, 99)]
    for c in chunks:
        assert c.lo == max(0, c.first - CONTEXT) and c.hi == min(99, c.last + CONTEXT)
        assert c.outputs(2) == ((c.first - c.lo) * 2, (c.last - c.lo) * 2 + 1)
    assert [(c.first, c.last) for c in plan_chunks(10, [], 30)] == [(0, 9)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two inputs in a folder: one with a hard cut, one without; both with audio."""
    folder = tmp_path_factory.mktemp("inputs")
    ff = ffmpeg_exe()
    subprocess.run([ff, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=1",
                    "-f", "lavfi", "-i", "mandelbrot=size=96x64:rate=24", "-f", "lavfi", "-i", "sine=duration=2",
                    "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-map", "2:a", "-t", "2",
                    "-c:v", "libx264", "-c:a", "aac", str(folder / "cut0.mp4")], check=True)
    # its video starts 0.3 s after its sound (as after an edit): the joined pieces must keep that, as one machine does
    subprocess.run([ff, "-v", "error", "-i", str(folder / "cut0.mp4"), "-itsoffset", "0.3", "-i",
                    str(folder / "cut0.mp4"), "-map", "1:v", "-map", "0:a", "-c", "copy", str(folder / "cut.mp4")],
                   check=True)
    (folder / "cut0.mp4").unlink()
    subprocess.run([ff, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=1.6",
                    "-c:v", "libx264", str(folder / "plain.mkv")], check=True)
    return folder


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from helpers import TINY_MOTION, random_weights
    return random_weights(tmp_path_factory.mktemp("w") / "w.pt", TINY_MOTION)


@pytest.fixture(scope="module")
def single(clips, weights, tmp_path_factory):
    """The one-machine results (lossless), to compare against."""
    out = tmp_path_factory.mktemp("single")
    r = subprocess.run([CONVLSTM, "interpolate", clips, "-o", out, "--codec", "ffv1", "--weights", weights,
                        "--quiet"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


def frames_and_times(path, tmp):
    tc = tmp / f"{path.stem}-{path.parent.name}.tc"
    clip = vs.core.bs.VideoSource(source=str(path), cachemode=0, timecodes=str(tc))
    planes = [np.stack([np.asarray(clip.get_frame(n)[p]) for n in range(clip.num_frames)]) for p in range(3)]
    return planes, read_timecodes(tc)


def assert_same(a, b, tmp):
    (pa, ta), (pb, tb) = frames_and_times(a, tmp), frames_and_times(b, tmp)
    assert len(ta) == len(tb) and np.allclose(ta, tb, atol=1e-6), (len(ta), len(tb))
    for x, y in zip(pa, pb):
        assert np.array_equal(x, y)


def ray_processes() -> int:
    out = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True).stdout
    return len(out.split())


def test_a_folder_through_the_cluster_is_the_one_machine_result_even_when_a_worker_dies(clips, weights, single,
                                                                                         tmp_path):
    from convlstm.cluster.driver import run_cluster
    from convlstm.files.output import Encoding
    from convlstm.options import Options
    before = ray_processes()
    killed: list[int] = []

    def kill_one_worker(state):   # a worker half-way through a piece (not one that just finished it)
        for piece in state["pieces"].values():
            if not killed and 0 < piece["frames"] < piece.get("total", 0) // 2 and not piece.get("finished"):
                killed.append(piece["pid"])
                os.kill(piece["pid"], signal.SIGKILL)

    out = tmp_path / "out"
    out.mkdir()
    summary = run_cluster([str(clips)], out, Options(factor=2, weights=str(weights)), Encoding(codec="ffv1"),
                          chunk_frames=24, progress=False, on_progress=kill_one_worker)
    assert killed and summary.retries >= 1, (killed, summary)
    assert sorted(p.name for p in out.iterdir()) == ["cut.mkv", "plain.mkv"]   # pieces folders removed
    for name in ("cut.mkv", "plain.mkv"):
        assert_same(single / name, out / name, tmp_path)
    streams = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out / "cut.mkv")], capture_output=True,
                             text=True).stderr
    assert "Audio: aac" in streams and "start 0.300000" in streams, streams
    assert ray_processes() <= before   # the local instance is stopped again


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_leaves_no_output_and_the_rerun_reuses_finished_pieces(sig, clips, weights, single, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    cmd = [CONVLSTM, "interpolate", str(clips / "cut.mp4"), "-o", str(out), "--cluster", "--codec", "ffv1",
           "--weights", str(weights), "--chunk-frames", "8", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = out / ".cut.convlstm-pieces" / "manifest.json"
    deadline = time.time() + 240
    while time.time() < deadline and not (manifest.is_file() and '"chunk"' in manifest.read_text()):
        time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err[-2000:]
    assert f"interrupted ({signal.Signals(sig).name})" in err and "received" not in err, err[-2000:]
    assert not (out / "cut.mkv").exists() and not list(out.glob(".cut.*partial*"))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    reused = int(r.stdout.split("pieces (")[1].split(" reused")[0])
    assert reused >= 1, r.stdout
    assert_same(single / "cut.mkv", out / "cut.mkv", tmp_path)
    assert not (out / ".cut.convlstm-pieces").exists() and sorted(os.listdir(out)) == ["cut.mkv"]


def test_relative_paths_and_a_missing_out_folder_work_and_foreign_pieces_folders_stop_the_run(clips, weights, single,
                                                                                             tmp_path):
    """Workers run elsewhere than the command (another folder, maybe another machine): the command hands them
    absolute paths. A pieces folder the run did not make is refused before any work, nothing in it touched."""
    import shutil
    shutil.copy(clips / "plain.mkv", tmp_path / "plain.mkv")
    shutil.copy(weights, tmp_path / "w.pt")
    blocked = tmp_path / "blocked"
    (blocked / ".plain.convlstm-pieces").mkdir(parents=True)
    (blocked / ".plain.convlstm-pieces" / "notes.txt").write_text("mine")
    cmd = [CONVLSTM, "interpolate", "plain.mkv", "--cluster", "--workers", "2", "--codec", "ffv1", "--weights", "w.pt",
           "--chunk-frames", "16", "--quiet", "-o"]
    r = subprocess.run(cmd + ["blocked"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 2 and "exists but was not made by convlstm" in r.stderr, r.stderr[-2000:]
    assert os.listdir(blocked / ".plain.convlstm-pieces") == ["notes.txt"]
    r = subprocess.run(cmd + ["new/out"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert_same(single / "plain.mkv", tmp_path / "new" / "out" / "plain.mkv", tmp_path)


def test_dedup_through_the_cluster_is_the_one_machine_result(weights, tmp_path):
    """Pieces carry DEDUP_CONTEXT: repeat decisions near a piece's ends are those of the whole clip."""
    from convlstm.cluster.chunks import DEDUP_CONTEXT
    from convlstm.cluster.driver import run_cluster
    from convlstm.files.output import Encoding
    from convlstm.options import Options
    src = tmp_path / "in"
    src.mkdir()
    # on threes (a plan then reads decisions 5 frames away), with a still of 9 frames in the middle (a hold)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=24:duration=3",
                    "-vf", "fps=8,fps=24,loop=loop=8:size=1:start=31,setpts=N/24/TB", "-t", "2.5",
                    "-c:v", "ffv1", str(src / "twos.mkv")], check=True)
    single = tmp_path / "single"
    r = subprocess.run([CONVLSTM, "interpolate", src / "twos.mkv", "-o", single, "--codec", "ffv1", "--weights",
                        weights, "--dedup", "--quiet"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    out.mkdir()
    run_cluster([str(src)], out, Options(factor=2, weights=str(weights), dedup=True), Encoding(codec="ffv1"),
                chunk_frames=DEDUP_CONTEXT, progress=False)
    assert_same(single / "twos.mkv", out / "twos.mkv", tmp_path)
