"""Real files keep what they had through `convlstm interpolate`: timing (variable rates), aspect, field
order, colour tags, HDR10 metadata, codec family, audio, subtitles, chapters, title. Each input is made
here with the ffmpeg binary, the output read back with bestsource and ffmpeg's own listing."""
import subprocess
import sys
from pathlib import Path

import pytest
import vapoursynth as vs

from convlstm.files.probe import probe
from convlstm.timing import output_times, read_timecodes, segments, setpts_expression
from convlstm.video import ffmpeg_exe

pytestmark = pytest.mark.slow   # every test here runs the real command in a new process

CONVLSTM = str(Path(sys.executable).with_name("convlstm"))


def cli(*args, timeout=300):
    return subprocess.run([CONVLSTM, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def ffmpeg(*args):
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *map(str, args)], check=True)


def lavfi(rate, frames, size="96x64"):
    """An input of ``frames`` test-pattern frames at ``rate``."""
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={frames / rate:.6f}"]


def listing(path):
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def timestamps(path, tmp_path):
    tc = tmp_path / f"{Path(path).stem}.tc.txt"
    vs.core.bs.VideoSource(source=str(path), cachemode=0, timecodes=str(tc))
    return read_timecodes(tc)


def first_props(path):
    return vs.core.bs.VideoSource(source=str(path), cachemode=0).get_frame(0).props


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from helpers import random_weights
    return random_weights(tmp_path_factory.mktemp("w") / "w.pt")


def test_variable_rate_source_keeps_every_source_frame_at_its_time(tmp_path, weights):
    """12 frames at 24 fps then 12 at 30 fps: on the average rate, frame 12 would land 25 ms early (and
    further on longer files); kept timestamps put it, and every other source frame, where it was."""
    a, b, src = tmp_path / "a.mkv", tmp_path / "b.mkv", tmp_path / "vfr.mkv"
    ffmpeg(*lavfi(24, 12), "-c:v", "libx264", a)
    ffmpeg(*lavfi(30, 12), "-c:v", "libx264", b)
    (tmp_path / "list.txt").write_text(f"file '{a}'\nfile '{b}'\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", tmp_path / "list.txt", "-c", "copy", src)
    before = timestamps(src, tmp_path)
    assert abs(before[12] - 0.5) < 0.002 and abs(before[13] - before[12] - 1 / 30) < 0.002
    for ext in ("mkv", "mp4"):
        out = tmp_path / f"out.{ext}"
        r = cli("interpolate", src, out, "--weights", weights, "--quiet")
        assert r.returncode == 0, r.stderr
        assert "48 frames at a variable rate (average" in r.stdout, r.stdout
        assert "keeping the source's timestamps" in r.stderr, r.stderr
        after = timestamps(out, tmp_path)
        assert len(after) == 2 * len(before)
        for i, t in enumerate(before):   # source frame i is output 2i, at its own time (containers keep ms)
            assert abs(after[2 * i] - t) <= 0.0011, (ext, i, after[2 * i], t)
        for i in range(len(before) - 1):  # the made frame halfway between
            assert abs(after[2 * i + 1] - (before[i] + before[i + 1]) / 2) <= 0.0011, (ext, i)
    r = cli("interpolate", src, tmp_path / "rate.mkv", "--fps", "60", "--weights", weights, "--quiet")
    assert r.returncode == 2 and "variable frame rate" in r.stderr and "whole --factor" in r.stderr
    assert not (tmp_path / "rate.mkv").exists()


def test_the_filter_splits_each_source_frames_own_duration(tmp_path, weights):
    """The vspipe route: frame durations out (what `vspipe --timecodes` writes) follow the source's."""
    a, b, src = tmp_path / "a.mkv", tmp_path / "b.mkv", tmp_path / "vfr.mkv"
    ffmpeg(*lavfi(24, 6), "-c:v", "libx264", a)
    ffmpeg(*lavfi(30, 6), "-c:v", "libx264", b)
    (tmp_path / "list.txt").write_text(f"file '{a}'\nfile '{b}'\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", tmp_path / "list.txt", "-c", "copy", src)
    clip = vs.core.bs.VideoSource(source=str(src), cachemode=0)
    out = clip.convlstm.Interpolate(weights=str(weights), factor=4)
    for i in (2, 8):
        p = clip.get_frame(i).props
        source = p["_DurationNum"] / p["_DurationDen"]
        for k in range(4):
            q = out.get_frame(4 * i + k).props
            assert abs(q["_DurationNum"] / q["_DurationDen"] - source / 4) < 1e-9, (i, k)


def test_anamorphic_aspect_and_colour_tags_are_kept_and_guesses_not_written(tmp_path, weights):
    tagged, untagged = tmp_path / "tagged.mp4", tmp_path / "untagged.mp4"
    ffmpeg(*lavfi(24, 8), "-vf", "setsar=4/3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-colorspace", "bt709",
           "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv", tagged)
    ffmpeg(*lavfi(24, 8), "-c:v", "libx264", "-pix_fmt", "yuv420p", untagged)
    for src in (tagged, untagged):
        out = tmp_path / f"out_{src.stem}.mp4"
        r = cli("interpolate", src, out, "--weights", weights, "--quiet")
        assert r.returncode == 0, r.stderr
        p, q = first_props(src), first_props(out)
        for key in ("_Matrix", "_Primaries", "_Transfer"):
            assert p.get(key) == q.get(key), (src.name, key, p.get(key), q.get(key))
    assert "SAR 4:3" in listing(tmp_path / "out_tagged.mp4")
    assert "bt709" not in listing(tmp_path / "out_untagged.mp4")   # unknown stays unknown


def test_interlaced_input_is_refused_with_the_fix_or_taken_as_progressive_on_request(tmp_path, weights):
    src = tmp_path / "interlaced.mkv"
    ffmpeg(*lavfi(25, 6), "-c:v", "libx264", "-flags", "+ildct+ilme", "-pix_fmt", "yuv420p", src)
    assert first_props(src)["_FieldBased"] > 0
    r = cli("interpolate", src, tmp_path / "out.mkv", "--weights", weights, "--quiet")
    assert r.returncode == 2 and "interlaced" in r.stderr and "bwdif" in r.stderr and "--assume-progressive" in r.stderr
    assert not (tmp_path / "out.mkv").exists()
    r = cli("interpolate", src, tmp_path / "out.mkv", "--weights", weights, "--quiet", "--assume-progressive")
    assert r.returncode == 0, r.stderr
    assert first_props(tmp_path / "out.mkv").get("_FieldBased", 0) == 0


def test_the_filter_refuses_interlaced_frames_naming_the_deinterlacer(weights):
    clip = vs.core.std.BlankClip(format=vs.YUV420P8, width=64, height=32, length=6).std.SetFieldBased(2)
    with pytest.raises(vs.Error, match=r"interlaced \(_FieldBased=2, top field first\).*Bwdif.*SetFieldBased"):
        clip.convlstm.Interpolate(weights=str(weights)).get_frame(1)


def test_streams_chapters_and_title_are_carried_as_far_as_the_container_allows(tmp_path, weights):
    src = tmp_path / "multi.mkv"
    (tmp_path / "s.srt").write_text("1\n00:00:00,000 --> 00:00:00,200\nhello\n\n2\n00:00:00,200 --> 00:00:00,300\n"
                                    "world\n")
    (tmp_path / "meta.txt").write_text(";FFMETADATA1\ntitle=My film\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=150\n"
                                       "title=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=150\nEND=330\ntitle=Two\n")
    ffmpeg(*lavfi(24, 8), "-f", "lavfi", "-i", "sine=duration=0.33", "-i", tmp_path / "s.srt", "-i",
           tmp_path / "meta.txt", "-map", "0", "-map", "1", "-map", "2", "-map_metadata", "3", "-map_chapters", "3",
           "-c:v", "libx264", "-c:a", "aac", "-c:s", "srt", "-metadata:s:s:0", "language=eng", src)
    out = tmp_path / "out.mkv"
    r = cli("interpolate", src, out, "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    kinds = [(s.kind, s.codec, s.language) for s in probe(out).streams]
    assert ("Audio", "aac", "") in kinds and ("Subtitle", "subrip", "eng") in kinds
    assert probe(out).chapters == 2 and "My film" in listing(out)
    mp4 = tmp_path / "out.mp4"   # MP4 takes text subtitles as mov_text
    r = cli("interpolate", src, mp4, "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    assert ("Subtitle", "mov_text", "eng") in [(s.kind, s.codec, s.language) for s in probe(mp4).streams]
    avi = tmp_path / "out.avi"   # AVI cannot: left out, and the user is told
    r = cli("interpolate", src, avi, "--weights", weights, "--quiet", "--codec", "libx264")
    assert r.returncode == 0, r.stderr
    assert "subtitle track(s) left out" in r.stderr and not probe(avi).of("Subtitle")


def test_hdr10_hevc_stays_10_bit_hevc_with_its_metadata_and_prores_stays_prores(tmp_path, weights):
    hdr = tmp_path / "hdr.mkv"
    ffmpeg(*lavfi(24, 6), "-pix_fmt", "yuv420p10le", "-c:v", "libx265", "-x265-params",
           "log-level=error:hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
           "L(10000000,50):max-cll=1000,400", "-colorspace", "bt2020nc", hdr)
    out = tmp_path / "out_hdr.mkv"
    r = cli("interpolate", hdr, out, "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    assert probe(out).video_codec == "hevc" and vs.core.bs.VideoSource(str(out), cachemode=0).format.bits_per_sample == 10
    p, q = first_props(hdr), first_props(out)
    for key in ("MasteringDisplayPrimariesX", "MasteringDisplayPrimariesY", "MasteringDisplayWhitePointX",
                "MasteringDisplayMinLuminance", "MasteringDisplayMaxLuminance", "ContentLightLevelMax",
                "ContentLightLevelAverage"):
        assert q.get(key) == pytest.approx(p[key], rel=1e-3), key
    r = cli("interpolate", hdr, tmp_path / "h264.mkv", "--weights", weights, "--quiet", "--codec", "libx264")
    assert r.returncode == 0 and "HDR10" in r.stderr and "libx265" in r.stderr   # cannot write it: said so
    prores = tmp_path / "in.mov"
    ffmpeg(*lavfi(24, 6), "-c:v", "prores_ks", "-pix_fmt", "yuv422p10le", prores)
    r = cli("interpolate", prores, tmp_path / "out.mov", "--weights", weights, "--quiet")
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path / "out.mov").video_codec == "prores"


def test_rate_options_of_the_command(tmp_path, weights):
    src = tmp_path / "in.mp4"
    ffmpeg(*lavfi(24, 12), "-c:v", "libx264", src)
    for args, frames, fps in ((["--fps", "59.94"], 29, 60000 / 1001), (["--fps", "48"], 24, 48.0),
                              (["--factor", "2"], 24, 48.0)):
        out = tmp_path / "out.mkv"
        r = cli("interpolate", src, out, "--weights", weights, "--quiet", "--force", *args)
        assert r.returncode == 0, (args, r.stderr)
        assert f"{frames} frames at {fps:.3f} fps" in r.stdout, (args, r.stdout)
    r = cli("interpolate", src, tmp_path / "x.mkv", "--fps", "fast", "--weights", weights)
    assert r.returncode == 2 and "--fps must be a number or a fraction" in r.stderr
    r = cli("interpolate", src, tmp_path / "x.mkv", "--factor", "1", "--weights", weights)
    assert r.returncode == 2 and "--factor must be above 1" in r.stderr


def test_timestamp_pieces_reproduce_any_times():
    times = [0.0]
    for k in range(1, 400):   # 24 fps, then 30 fps with ms rounding jitter, then a jump
        times.append(times[-1] + (1 / 24 if k < 100 else 1 / 30 if k < 300 else 0.1))
    times = [round(t, 3) for t in times]
    out = output_times(times, 3)
    assert len(segments(out)) <= 6
    expression = setpts_expression(out)
    assert expression.count("if(") == len(segments(out)) - 1
    for n0, t0, slope in segments(out):
        assert abs(out[n0] - t0) < 1e-9
    for n, t in enumerate(out):
        n0, t0, slope = max(s for s in segments(out) if s[0] <= n)
        assert abs(t0 + (n - n0) * slope - t) <= 0.0005 + 1e-9


def test_an_output_ffmpeg_would_refuse_is_refused_before_any_frame_with_its_reason(tmp_path, weights):
    src = tmp_path / "pcm.mkv"
    ffmpeg(*lavfi(24, 12), "-f", "lavfi", "-i", "sine=duration=0.5", "-c:v", "libx264", "-c:a", "pcm_s16le", src)
    r = cli("interpolate", src, tmp_path / "out.mp4", "--codec", "prores_ks", "--weights", weights, "--quiet")
    assert r.returncode == 2 and "ffmpeg cannot write this output" in r.stderr and "prores" in r.stderr, r.stderr
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))
    r = cli("interpolate", src, tmp_path / "out.webm", "--weights", weights, "--quiet")   # PCM cannot go in WebM
    assert r.returncode == 0 and "re-encoded to Opus" in r.stderr, r.stderr
    kinds = [(s.kind, s.codec) for s in probe(tmp_path / "out.webm").streams]
    assert ("Video", "vp9") in kinds and ("Audio", "opus") in kinds


def test_odd_sizes_and_4_4_4_come_back_at_their_size_and_format(tmp_path, weights):
    """Sizes no codec block or net level divides (4:4:4 allows odd ones; 4:2:0 needs even)."""
    for size, pix_fmt, ext in (("99x57", "yuv444p", "mkv"), ("130x74", "yuv420p10le", "mp4")):
        src = tmp_path / f"in_{size}.{ext}"
        ffmpeg(*lavfi(24, 8, size), "-pix_fmt", pix_fmt, "-c:v", "libx264", src)
        out = tmp_path / f"out_{size}.mkv"
        r = cli("interpolate", src, out, "--weights", weights, "--quiet")
        assert r.returncode == 0, r.stderr
        a = vs.core.bs.VideoSource(str(src), cachemode=0)
        b = vs.core.bs.VideoSource(str(out), cachemode=0)
        assert (b.width, b.height, b.format.id, b.num_frames) == (a.width, a.height, a.format.id, 2 * a.num_frames)
