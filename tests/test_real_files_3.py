"""Real files III: batches, files without timestamps, codec choices that play, the encoder controls, the
umask, and messages in the command's own terms. Real ffmpeg encodes, the real command in a new process."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convlstm.video import ffmpeg_exe

pytestmark = pytest.mark.slow

CONVLSTM = str(Path(sys.executable).with_name("convlstm"))


def cli(*args, umask=None, timeout=300):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.run([CONVLSTM, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          preexec_fn=pre)


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=0.4",
                    *map(str, args)], check=True)


def video_line(path) -> str:
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return next(line for line in err.splitlines() if "Video:" in line)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from helpers import TINY_MOTION, random_weights
    return random_weights(tmp_path_factory.mktemp("w") / "w.pt", TINY_MOTION)


def test_batches_make_the_folder_keep_going_and_skip_what_is_done(tmp_path, weights):
    ins = tmp_path / "in"
    ins.mkdir()
    for name in ("a", "c"):
        ffmpeg("-c:v", "libx264", ins / f"{name}.mkv")
    (ins / "b.mkv").write_text("not a video")
    out = tmp_path / "new" / "out"                    # made, parents too
    r = cli("interpolate", ins, "-o", out, "--weights", weights, "--quiet", "--keep-going")
    assert r.returncode == 1, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "c.mkv"]
    assert "2 written, 0 skipped, 1 failed" in r.stdout and f"failed: {ins / 'b.mkv'}: cannot decode" in r.stdout
    stamp = (out / "a.mkv").stat().st_mtime_ns
    (ins / "b.mkv").unlink()
    (out / ".a.x1y2.convlstm-partial.mkv").write_bytes(b"left by a killed run")   # does not make a.mkv less done
    r = cli("interpolate", ins, "-o", out, "--weights", weights, "--quiet", "--skip-existing")
    assert r.returncode == 0 and "0 written, 2 skipped, 0 failed" in r.stdout, r.stdout + r.stderr
    assert (out / "a.mkv").stat().st_mtime_ns == stamp
    r = cli("interpolate", ins, "-o", out, "--weights", weights, "--quiet")   # without: the first existing stops it
    assert r.returncode == 2 and "exists; pass --force" in r.stderr


def test_a_file_without_timestamps_goes_through_at_its_nominal_rate(tmp_path, weights):
    src = tmp_path / "raw.m1v"
    ffmpeg("-c:v", "mpeg1video", "-f", "mpeg1video", src)
    r = cli("interpolate", src, tmp_path / "out.mkv", "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "timestamps cannot be read" in r.stderr and "nominal constant rate, 25.000 fps" in r.stderr
    assert "20 frames at 50.000 fps" in r.stdout


def test_codec_choices_play_and_keep_the_profile_and_the_range(tmp_path, weights):
    prores = tmp_path / "std.mov"
    ffmpeg("-c:v", "prores_ks", "-profile:v", "2", "-pix_fmt", "yuv422p10le", "-color_range", "tv", prores)
    r = cli("interpolate", prores, tmp_path / "out.mov", "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "prores (Standard)" in video_line(tmp_path / "out.mov")          # not HQ
    r = cli("interpolate", prores, tmp_path / "out.mp4", "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    line = video_line(tmp_path / "out.mp4")
    assert "h264 (High)" in line and "yuv420p(tv" in line, line            # 8-bit 4:2:0, the range kept
    assert "8-bit 4:2:0 so that players take it" in r.stderr
    r = cli("interpolate", prores, tmp_path / "own.mp4", "--weights", weights, "--quiet", "--pix-fmt", "yuv422p10le",
            "--preset", "veryfast")
    assert r.returncode == 0 and "yuv422p10le" in video_line(tmp_path / "own.mp4"), r.stderr


def test_audio_codec_control_and_the_umask(tmp_path, weights):
    src = tmp_path / "av.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=0.4", "-f",
                    "lavfi", "-i", "sine=d=0.4", "-c:v", "libx264", "-c:a", "flac", "-shortest", src], check=True)
    r = cli("interpolate", src, tmp_path / "out.mkv", "--weights", weights, "--quiet", "--audio-codec", "libopus",
            umask=0o022)
    assert r.returncode == 0, r.stderr
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "out.mkv")], capture_output=True,
                         text=True).stderr
    assert "Audio: opus" in err
    assert (tmp_path / "out.mkv").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("args, message", [
    (["--weights", "paper", "--detail", "1"], "leave --detail unset"),
    (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "cuda:99"],
     "--device 'cuda"),
    (["--codec", "copy"], "--codec copy cannot be used"),
    (["--scales", "3"], "--scales must be 1"),
])
def test_messages_speak_the_command_with_one_prefix(args, message, tmp_path):
    src = tmp_path / "in.mkv"
    ffmpeg("-c:v", "libx264", src)
    r = cli("interpolate", src, tmp_path / "out.mkv", "--quiet", *args)
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.startswith("convlstm interpolate:")]
    assert len(lines) == 1 and message in lines[0] and "convlstm.Interpolate" not in lines[0], r.stderr


def first_time(path, kind: str) -> float:
    """When the first decoded frame of the first ``kind`` ('v' or 'a') stream starts, s (ffmpeg's framemd5)."""
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", f"0:{kind}:0", f"-frames:{kind}", "1",
                          "-f", "framemd5", "-"], capture_output=True, text=True).stdout.splitlines()
    num, den = next(line for line in out if line.startswith("#tb 0:")).split(":")[1].strip().split("/")
    pts = int(next(line for line in out if not line.startswith("#")).split(",")[1])
    return pts * int(num) / int(den)


@pytest.mark.parametrize("ext, vcodec, acodec", [("mkv", "libx264", "aac"), ("mp4", "libx264", "aac"),
                                                  ("mov", "libx264", "aac"), ("webm", "libvpx-vp9", "libopus"),
                                                  ("ogv", "libtheora", "libvorbis")])
@pytest.mark.parametrize("late", ["video", "audio"])
def test_sound_stays_in_sync_after_a_start_offset(ext, vcodec, acodec, late, tmp_path, weights):
    src = tmp_path / f"in.{ext}"
    video = ["-f", "lavfi", "-i", "testsrc2=s=96x64:r=24:d=1.5"]
    audio = ["-f", "lavfi", "-i", "sine=d=1.5"]
    first, second = (audio, video) if late == "video" else (video, audio)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *first, "-itsoffset", "0.1", *second, "-map",
                    "1:v" if late == "video" else "0:v", "-map", "0:a" if late == "video" else "1:a", "-c:v", vcodec,
                    "-c:a", acodec, src], check=True)
    offset = first_time(src, "v") - first_time(src, "a")
    out = tmp_path / f"out.{ext}"
    r = cli("interpolate", src, out, "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    assert abs((first_time(out, "v") - first_time(out, "a")) - offset) <= 0.0011, (offset, first_time(out, "v"),
                                                                                 first_time(out, "a"))


def test_a_span_keeps_its_frames_and_its_sound(tmp_path, weights):
    """--start 0.5 --duration 0.5 of a 24 fps file whose video starts 83 ms after its sound: source frames
    12..23 are the output's even frames, and the sound is cut at the same moment (stream copy cuts at a
    packet: within one audio frame)."""
    import numpy as np
    import vapoursynth as vs
    src = tmp_path / "in.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=2", "-itsoffset", "0.083", "-f",
                    "lavfi", "-i", "testsrc2=s=96x64:r=24:d=1.5", "-map", "1:v", "-map", "0:a", "-c:v", "libx264",
                    "-crf", "0", "-c:a", "aac", src], check=True)
    out = tmp_path / "out.mkv"
    r = cli("interpolate", src, out, "--weights", weights, "--quiet", "--start", "0.5", "--duration", "0:00.5",
            "--codec", "ffv1")
    assert r.returncode == 0 and "24 frames at 48.000 fps" in r.stdout, r.stdout + r.stderr
    a, b = vs.core.bs.VideoSource(str(src), cachemode=0), vs.core.bs.VideoSource(str(out), cachemode=0)
    for i in range(12):
        for p in range(3):
            assert np.array_equal(np.asarray(a.get_frame(12 + i)[p]), np.asarray(b.get_frame(2 * i)[p])), i
    assert abs(first_time(out, "v")) <= 0.0015 and 0 <= first_time(out, "a") < 0.05
    for args, message in ((["--start", "9"], "has 0 frame(s) from 9 s"), (["--start", "x"], "--start takes seconds"),
                          (["--duration", "-1"], "--duration takes seconds")):
        r = cli("interpolate", src, tmp_path / "bad.mkv", "--weights", weights, "--quiet", *args)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)


def test_keep_going_goes_on_after_an_error_made_while_frames_are_made(tmp_path, weights):
    """An input that turns interlaced half-way fails only when the filter reaches those frames (a filter
    error, not a file error): the batch still goes on to the next input."""
    ins = tmp_path / "in"
    ins.mkdir()
    ffmpeg("-c:v", "libx264", tmp_path / "p1.mkv")
    ffmpeg("-vf", "setfield=tff", "-flags", "+ildct+ilme", "-c:v", "libx264", "-x264opts", "tff=1", tmp_path / "p2.mkv")
    (tmp_path / "list.txt").write_text(f"file '{tmp_path / 'p1.mkv'}'\nfile '{tmp_path / 'p2.mkv'}'\n")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i", tmp_path / "list.txt", "-c", "copy",
                    ins / "a_mixed.mkv"], check=True)
    ffmpeg("-c:v", "libx264", ins / "b.mkv")
    r = cli("interpolate", ins, "-o", tmp_path / "out", "--weights", weights, "--quiet", "--keep-going")
    assert r.returncode == 1, r.stderr
    assert "1 written, 0 skipped, 1 failed" in r.stdout and "source is interlaced" in r.stdout, r.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.mkv"]
