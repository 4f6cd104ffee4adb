"""What a hostile or unlucky user meets: planted or foreign pieces folders, stale pieces, outputs taken
mid-run, alpha sources, inputs that are not files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

from convlstm.cluster.pieces import PiecesFolder, source_fingerprint
from convlstm.cluster.worker import PieceResult
from convlstm.errors import UsageError
from convlstm.files.atomic import TargetAppeared, partial_file, partial_files
from convlstm.video import ffmpeg_exe

CONVLSTM = str(Path(sys.executable).with_name("convlstm"))


def finished_piece(folder: PiecesFolder, index: int, data: bytes = b"piece") -> PieceResult:
    import hashlib
    folder.piece(index).write_bytes(data)
    return PieceResult(index, str(folder.piece(index)), hashlib.sha256(data).hexdigest(), 4, 1.0, "here:1")


def test_a_pieces_folder_is_made_by_the_run_locked_and_removed_only_as_far_as_it_wrote_it(tmp_path):
    folder = PiecesFolder(tmp_path / "out.mkv")
    folder.open()
    with pytest.raises(UsageError, match="another run is writing"):   # a second run on the same output
        PiecesFolder(tmp_path / "out.mkv").open()
    done = {0: finished_piece(folder, 0)}
    folder.record("settings-1", tmp_path / "in.mp4", done)
    (folder.path / "notes.txt").write_text("mine")
    folder.remove()
    assert sorted(os.listdir(folder.path)) == ["notes.txt"]          # the user's file and the folder stay
    (folder.path / "notes.txt").unlink()
    folder.path.rmdir()
    folder = PiecesFolder(tmp_path / "out.mkv")                     # gone: made again
    folder.open()
    folder.remove()
    assert not folder.path.exists()


def test_a_planted_link_or_a_foreign_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.convlstm-pieces").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="is not a folder it made"):
        PiecesFolder(out / "a.mkv").open()
    (out / ".b.convlstm-pieces").mkdir()
    (out / ".b.convlstm-pieces" / "sub").mkdir()
    with pytest.raises(UsageError, match="was not made by convlstm"):
        PiecesFolder(out / "b.mkv").open()
    assert os.listdir(elsewhere) == [] and os.listdir(out / ".b.convlstm-pieces") == ["sub"]


def test_manifest_entries_never_leave_the_folder_and_malformed_ones_are_ignored(tmp_path):
    folder = PiecesFolder(tmp_path / "out.mkv")
    folder.open()
    good = finished_piece(folder, 0)
    foreign = tmp_path / "foreign.nut"
    foreign.write_bytes(b"not ours")
    import hashlib
    escape = PieceResult(1, str(folder.path / ".." / "foreign.nut"), hashlib.sha256(b"not ours").hexdigest(), 4, 1.0,
                         "x:1")
    manifest = folder.path / "manifest.json"
    manifest.write_text(json.dumps({"settings": "s", "pieces": [good.__dict__, escape.__dict__, {"chunk": 2}, 7]}))
    assert list(folder.reusable("s")) == [0]
    assert folder.reusable("other settings") == {}
    for text in ("[]", "{", '{"settings": "s", "pieces": {}}', '{"settings": "s", "pieces": [[]]}'):
        manifest.write_text(text)
        assert folder.reusable("s") == {}
    folder.close()


def test_a_source_rewritten_with_its_size_and_time_kept_is_told_apart(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(bytes(range(256)) * 40000)
    before = source_fingerprint(src)
    stat = src.stat()
    data = bytearray(src.read_bytes())
    data[100] ^= 0xFF                     # another file of the same size: its header differs
    src.write_bytes(bytes(data))
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = source_fingerprint(src)
    assert before[:3] == after[:3] and before[3] != after[3]


def test_an_output_that_appears_mid_run_is_not_replaced_without_force(tmp_path):
    target = tmp_path / "out.mkv"
    with pytest.raises(TargetAppeared, match="pass --force"):
        with partial_file(target, replace=False) as f:
            f.write(b"ours")
            target.write_bytes(b"theirs")       # another run finished first
    assert target.read_bytes() == b"theirs" and not partial_files(target)
    with partial_file(target, replace=True) as f:
        f.write(b"ours")
    assert target.read_bytes() == b"ours"


@pytest.mark.slow
@pytest.mark.parametrize("make", [
    ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "{dir}/anim.gif"],
    ["-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=1", "-pix_fmt", "yuva420p", "-c:v", "ffv1", "{dir}/yuva.mkv"],
])
def test_alpha_sources_give_their_picture_and_say_the_alpha_is_dropped(make, tmp_path):
    subprocess.run([ffmpeg_exe(), "-v", "error", *[a.format(dir=tmp_path) for a in make]], check=True)
    src = Path(make[-1].format(dir=tmp_path))
    out = tmp_path / "out.mkv"
    r = subprocess.run([CONVLSTM, "interpolate", src, out, "--codec", "ffv1", "--quiet", "--device", "cpu"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "alpha channel (transparency): the output keeps the picture without it" in r.stderr
    a = vs.core.bs.VideoSource(str(src), cachemode=0)
    b = vs.core.bs.VideoSource(str(out), cachemode=0)
    assert b.num_frames == 2 * a.num_frames
    for i in (0, 4, 9):   # the source frames come back (lossless), not noise
        for p in range(3):
            assert np.array_equal(np.asarray(a.get_frame(i)[p]), np.asarray(b.get_frame(2 * i)[p])), (i, p)


def test_a_fifo_input_is_named_for_what_it_is(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp4")
    from convlstm.errors import SourceError
    from convlstm.video import open_source
    with pytest.raises(SourceError, match="is not a regular file"):
        open_source(tmp_path / "pipe.mp4")


def test_made_frames_carry_no_alpha_of_their_source_frame(test_weights):
    from helpers import clip_from_frames, moving_frames
    clip = clip_from_frames(moving_frames(24, 16, 4))
    alpha = vs.core.std.BlankClip(clip, format=vs.GRAY8, color=200)
    clip = vs.core.std.ClipToProp(clip, alpha, "_Alpha")
    out = vs.core.convlstm.Interpolate(clip, weights=str(test_weights), device="cpu")
    assert "_Alpha" in out.get_frame(0).props and "_Alpha" in out.get_frame(2).props
    assert "_Alpha" not in out.get_frame(1).props and out.get_frame(1).props["ConvLSTMInterpolated"] == 1


@pytest.mark.slow
def test_a_bench_whose_worker_dies_ends_with_its_error(tmp_path):
    """The row runs in a process of its own; killing it (as the kernel's OOM killer would) must end the bench
    with the row named, not leave the parent waiting forever."""
    import signal
    import time
    proc = subprocess.Popen([CONVLSTM, "bench", "--sizes", "320x192", "--frames", "400", "--device", "cpu", "--json",
                             str(tmp_path / "b.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, worker = time.time() + 120, None
    while worker is None and time.time() < deadline:
        time.sleep(0.5)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        for pid in children:   # the spawned row process (not the resource tracker)
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                worker = int(pid)
    assert worker is not None, "no bench worker appeared"
    time.sleep(3)
    os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "the bench process for 320x192 precision auto batch 1 died" in err, err[-1000:]


def test_bench_refuses_sizes_no_frame_can_have():
    from convlstm.evaluate.bench import parse_sizes
    with pytest.raises(ValueError, match="must be 1..16384"):
        parse_sizes("99999999x99999999")


@pytest.mark.slow
def test_adapt_refuses_a_budget_that_is_no_number_before_decoding(tmp_path):
    r = subprocess.run([CONVLSTM, "adapt", str(tmp_path / "missing.mp4"), "--minutes", "nan"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--minutes must be a positive number, got nan" in r.stderr, r.stderr


@pytest.mark.slow
def test_out_of_memory_on_the_cpu_names_tile(tmp_path):
    """A frame too big for the memory the process may use: the allocator's error becomes a sentence with the
    fix (the address space is limited so that the test needs no big machine)."""
    code = ("import resource, vapoursynth as vs\n"
            "resource.setrlimit(resource.RLIMIT_AS, (5 << 30, 5 << 30))\n"
            "clip = vs.core.std.Splice([vs.core.std.BlankClip(format=vs.RGB24, width=8192, height=8192, length=1, "
            "color=[c, c, c]) for c in (0, 80, 160)])\n"
            "try:\n    vs.core.convlstm.Interpolate(clip, device='cpu').get_frame(1)\n"
            "except vs.Error as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "out of memory at 8192x8192 on the CPU; set tile=" in r.stdout, (r.stdout, r.stderr[-1000:])


@pytest.mark.slow
def test_what_is_left_out_or_dropped_is_said(tmp_path, test_weights):
    ins = tmp_path / "in"
    (ins / "nested").mkdir(parents=True)
    src = ins / "two.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=0.4", "-f", "lavfi",
                    "-i", "testsrc=s=32x24:r=25:d=0.4", "-map", "0", "-map", "1", "-c:v", "libx264", str(src)],
                   check=True)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".two.x1y2z3.convlstm-partial.mkv").write_bytes(b"left by a killed run")
    r = subprocess.run([CONVLSTM, "interpolate", str(ins), "-o", str(out), "--weights", str(test_weights), "--quiet",
                        "--fps", "10"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "the folders inside it are not entered (nested)" in r.stderr
    assert "1 more video stream(s) in the source left out" in r.stderr
    assert "partial file(s) of an earlier run that was killed" in r.stderr and ".two.x1y2z3" in r.stderr
    assert "the target rate is below the clip's" in r.stderr


def test_a_pieces_folder_of_another_user_or_open_to_others_is_refused(tmp_path):
    folder = PiecesFolder(tmp_path / "movie.mkv")
    folder.open()
    folder.close()
    os.chmod(folder.path, 0o777)
    with pytest.raises(UsageError, match="belongs to another user or others may write into it"):
        PiecesFolder(tmp_path / "movie.mkv").open()
    os.chmod(folder.path, 0o700)
    if os.geteuid() == 0:
        os.chown(folder.path / "mark", 65534, 65534)
        with pytest.raises(UsageError, match="belongs to another user"):
            PiecesFolder(tmp_path / "movie.mkv").open()


def test_partial_files_are_found_for_names_with_glob_characters(tmp_path):
    target = tmp_path / "Movie [1080p].mkv"
    with pytest.raises(RuntimeError):
        with partial_file(target):
            assert [p.name.startswith(".Movie [1080p].") for p in partial_files(target)] == [True]
            (tmp_path / ".Movie 1.abc.convlstm-partial.mkv").write_bytes(b"another output's")
            assert len(partial_files(target)) == 1
            raise RuntimeError("stop")


def test_cli_messages_name_flags_but_leave_paths_and_values_alone():
    from convlstm.cli.interpolate import cli_wording
    assert cli_wording("input 'tile/x.mkv' does not exist") == "input 'tile/x.mkv' does not exist"
    assert cli_wording("set tile= (e.g. tile=1024), or use precision=fp16") == \
        "set --tile (e.g. --tile 1024), or use --precision fp16"
    assert cli_wording("device 'tpu' is not valid") == "--device 'tpu' is not valid"
    assert cli_wording("needs weights that interpolate at any time position") == \
        "needs weights that interpolate at any time position"


def test_the_vpy_takes_named_weights_as_names():
    from convlstm.cli.script import parse
    source, options = parse({"input": "/x/in.mp4", "weights": "paper"})
    assert source == "/x/in.mp4" and options.weights == "paper"
