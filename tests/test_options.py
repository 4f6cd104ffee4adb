"""One declaration of Interpolate's options: the filter's signature, the CLI's flags, the .vpy's names and
the Python API all come from convlstm.options.Options, and its rules hold at every entry point."""
import os
import subprocess
import sys
from dataclasses import fields
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import vapoursynth as vs

import convlstm
from convlstm.cli.interpolate import options_from
from convlstm.cli.main import build_parser
from convlstm.cli.script import ARGUMENTS
from convlstm.errors import InterpolateError
from convlstm.files.atomic import partial_file, partial_files
from convlstm.options import NAMES, RETIRED, Options, c_header, signature
from helpers import TINY_MOTION, clip_from_frames, moving_frames, planes_of, random_weights

REPO = Path(__file__).resolve().parents[1]
core = vs.core


def test_the_plugin_header_is_made_from_the_options():
    assert (REPO / "plugin" / "signature.h").read_text() == c_header(), \
        "plugin/signature.h is stale: python -m convlstm.options > plugin/signature.h"


def test_the_loaded_filter_takes_exactly_the_options():
    """Every option, and the retired names (there only to be refused with the name of their replacement)."""
    registered = core.convlstm.Interpolate.signature
    for name in (*NAMES, *RETIRED):
        assert f"{name}:" in registered, name
    assert registered.count(":opt") == len(NAMES) + len(RETIRED)
    assert signature().startswith("clip:vnode;") and signature().count(";") == len(NAMES) + len(RETIRED) + 1
    assert not set(RETIRED) & set(NAMES)


def test_every_option_reaches_the_cli_the_vpy_and_the_api():
    cli_flags = {a.dest for a in build_parser()._subparsers._group_actions[0].choices["interpolate"]._actions}
    for f in fields(Options):
        assert f.name in ARGUMENTS, f"-a {f.name} missing from interpolate.vpy"
        if f.metadata["cli"]:
            assert f.name in cli_flags, f"--{f.name.replace('_', '-')} missing from convlstm interpolate"
    args = build_parser().parse_args(["interpolate", "a.mp4", "b.mkv", "--sc-threshold", "0.3", "--batch", "2",
                                      "--factor", "5/2", "--compile", "--device", "cpu"])
    assert options_from(args) == Options(sc_threshold=0.3, batch=2, factor_num=5, factor_den=2, compile=True,
                                         device="cpu")


@pytest.mark.parametrize("kwargs, message", [
    ({"factor": 2.5}, "factor must be a whole number"), ({"factor": True}, "factor must be a number"),
    ({"batch": 2.0}, "batch must be a whole number"), ({"compile": 2}, "compile must be 0 or 1"),
    ({"detail": float("inf")}, "finite"), ({"device": "gpu"}, "not valid"), ({"weights": 3}, "must be text"),
    ({"factor_num": 5}, "go together"), ({"factor": 2, "factor_num": 5, "factor_den": 2}, "give one of"),
    ({"precision": "half"}, "precision must be one of auto, fp32, fp16, bf16"), ({"precision": 16}, "must be text"),
])
def test_options_refuse_what_the_filter_would(kwargs, message):
    with pytest.raises(InterpolateError, match=message):
        Options(**kwargs)
    clip = clip_from_frames(moving_frames(16, 16, 3))
    with pytest.raises(vs.Error, match="convlstm.Interpolate: .*" + message):     # the Python API says the same
        convlstm.interpolate(clip, **kwargs)


def test_options_normalise_and_carry_their_rate():
    o = Options(factor=3.0, compile=1, sc_threshold=0)
    assert o.factor == 3 and isinstance(o.factor, int) and o.compile is True and o.sc == 0.0
    assert o.filter_args() == {"factor": 3, "compile": 1, "sc_threshold": 0.0}
    assert Options().ratio(None) == 2 and Options().whole_factor() == 2
    assert Options(factor_num=5, factor_den=2).ratio(None) == Fraction(5, 2)
    assert Options(fps_num=60, fps_den=1).ratio(Fraction(24)) == Fraction(5, 2)
    with pytest.raises(InterpolateError, match="known constant frame rate"):
        Options(fps_num=60, fps_den=1).ratio(None)


@pytest.fixture(scope="module")
def any_time_weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w") / "motion.pt", TINY_MOTION)


def test_the_api_takes_one_options_object_or_its_fields(any_time_weights):
    test_weights = any_time_weights
    clip = clip_from_frames(moving_frames(24, 16, 4))
    a = convlstm.interpolate(clip, Options(weights=str(test_weights), device="cpu", factor=3))
    b = convlstm.interpolate(clip, weights=test_weights, device="cpu", factor=3)
    c = core.convlstm.Interpolate(clip, **Options(weights=str(test_weights), device="cpu", factor=3).filter_args())
    assert a.num_frames == b.num_frames == c.num_frames == 12
    for n in range(12):
        assert np.array_equal(planes_of(a.get_frame(n)), planes_of(b.get_frame(n)))
        assert np.array_equal(planes_of(a.get_frame(n)), planes_of(c.get_frame(n)))


def test_a_split_duration_too_fine_for_64_bits_is_dropped_not_wrapped(any_time_weights):
    """_DurationDen near 2^62 split 5 ways would overflow a signed 64-bit number (a garbage duration)."""
    clip = clip_from_frames(moving_frames(16, 16, 3), fpsnum=0, fpsden=1)   # variable rate: durations per frame

    def stamp(n, f):
        f = f.copy()
        f.props["_DurationNum"], f.props["_DurationDen"] = 1, 4 * 10**18
        return f
    clip = core.std.ModifyFrame(clip, clip, stamp)
    out = core.convlstm.Interpolate(clip, weights=str(any_time_weights), device="cpu", factor=5)
    props = out.get_frame(0).props
    assert "_DurationDen" not in props and "_DurationNum" not in props
    clip2 = core.std.ModifyFrame(clip, clip, lambda n, f: _with_duration(f, 5, 10**18))
    props = core.convlstm.Interpolate(clip2, weights=str(any_time_weights), device="cpu", factor=5).get_frame(0).props
    assert (props["_DurationNum"], props["_DurationDen"]) == (1, 10**18)   # 5/10^18 split 5 ways, exact


def _with_duration(f, num, den):
    f = f.copy()
    f.props["_DurationNum"], f.props["_DurationDen"] = num, den
    return f


def test_whole_files_or_none_with_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        with partial_file(tmp_path / "a.bin") as f:
            f.write(b"done")
            assert partial_files(tmp_path / "a.bin") and os.stat(f.fileno()).st_mode & 0o777 == 0o600
        assert (tmp_path / "a.bin").read_bytes() == b"done" and (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o640
        (tmp_path / "b.bin").write_bytes(b"keep me")
        with pytest.raises(RuntimeError):
            with partial_file(tmp_path / "b.bin") as f:
                f.write(b"half")
                raise RuntimeError("stopped")
        assert (tmp_path / "b.bin").read_bytes() == b"keep me" and not partial_files(tmp_path / "b.bin")
    finally:
        os.umask(old)


@pytest.mark.slow
def test_python_m_convlstm_options_writes_the_header():
    r = subprocess.run([sys.executable, "-m", "convlstm.options"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == c_header()
