"""precision=: auto (bf16 on a CPU with native bf16), the explicit fp32 switch, refusals that name the fix, and
the retired fp16 option's sentence wherever it can still be written."""
import argparse

import numpy as np
import pytest
import torch
import vapoursynth as vs

import convlstm
from convlstm.checkpoint import load_net
from convlstm.errors import InterpolateError, UsageError
from convlstm.filter.engine import Engine, cpu_bf16, has_bf16_flags
from convlstm.filter.formats import PixelFormat
from convlstm.filter.stages import choose_precision
from convlstm.options import Options
from convlstm.model import Net
from helpers import TINY_MOTION, clip_from_frames, moving_frames, planes_of

core = vs.core
CPU = torch.device("cpu")
RGB24 = PixelFormat("RGB24", 8, False)
native_bf16 = pytest.mark.skipif(not cpu_bf16(), reason="this CPU has no native bf16 (AVX-512 BF16 / AMX)")


def tiny_motion_net():
    return Net(TINY_MOTION)


def frames_of(clip: vs.VideoNode) -> np.ndarray:
    return np.stack([planes_of(f) for f in clip.frames()]).astype(np.int32)


def test_bf16_flags_are_read_from_cpuinfo():
    x86 = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_vnni avx512_bf16 amx_tile\n"
    assert has_bf16_flags(x86) and has_bf16_flags(x86.replace("avx512_bf16", "amx_bf16"))
    assert not has_bf16_flags(x86.replace(" avx512_bf16", ""))           # AVX-512 alone emulates bf16
    assert has_bf16_flags("Features\t: fp asimd bf16 i8mm\n")             # Arm
    assert not has_bf16_flags("Features\t: fp asimd\n") and not has_bf16_flags("")


@native_bf16
def test_auto_takes_bf16_on_a_cpu_with_native_bf16():
    assert choose_precision(None, CPU, RGB24) == choose_precision("auto", CPU, RGB24) == "bf16"
    assert choose_precision("fp32", CPU, RGB24) == "fp32"
    engine = Engine(tiny_motion_net(), CPU, precision="bf16")
    assert engine.autocast and next(engine.net.parameters()).dtype == torch.float32   # autocast, not converted


def test_auto_without_native_bf16_is_fp32_and_bf16_is_refused_naming_the_fix():
    if cpu_bf16():
        pytest.skip("this CPU has native bf16: the refusal cannot happen here")
    assert choose_precision(None, CPU, RGB24) == "fp32"
    with pytest.raises(InterpolateError, match="needs native bf16.*use precision=fp32"):
        Engine(tiny_motion_net(), CPU, precision="bf16")


def test_fp16_on_the_cpu_is_refused_naming_the_fix(test_weights):
    clip = clip_from_frames(moving_frames(48, 32, 4))
    with pytest.raises(vs.Error, match="precision=fp16 needs a CUDA device.*use precision=fp32"):
        core.convlstm.Interpolate(clip, weights=str(test_weights), device="cpu", precision="fp16")


def test_explicit_fp32_gives_the_fp32_bytes(test_weights):
    """precision=fp32 is the float32 net exactly as before bf16 existed: the engine in fp32 with no autocast,
    whatever this CPU can do (and precision names are case-blind)."""
    frames = moving_frames(64, 48, 5)
    clip = clip_from_frames(frames)
    out = frames_of(core.convlstm.Interpolate(clip, weights=str(test_weights), device="cpu", precision="FP32"))
    engine = Engine(load_net(test_weights)[0], CPU, precision="fp32")
    assert not engine.autocast
    for n in (1, 3, 5):
        window = [min(max(i, 0), len(frames) - 1) for i in range(n // 2 - 1, n // 2 + 3)]
        x = RGB24.to_unit(torch.from_numpy(np.stack([frames[i] for i in window])))[None]
        assert np.array_equal(out[n], RGB24.from_unit(engine.predict(x)[0]).numpy()), f"frame {n}"


@pytest.mark.slow   # two whole filter runs: the full suite, not the daily loop
@native_bf16
def test_bf16_on_the_cpu_stays_close_to_fp32():
    """The bundled model on a moving picture: bf16 (the default here) within a level or two of fp32, and no
    different on the source frames; the motion search is the same float32 search."""
    clip = clip_from_frames(moving_frames(160, 96, 5, speed=4))
    auto = frames_of(core.convlstm.Interpolate(clip, device="cpu"))
    bf16 = frames_of(core.convlstm.Interpolate(clip, device="cpu", precision="bf16"))
    fp32 = frames_of(core.convlstm.Interpolate(clip, device="cpu", precision="fp32"))
    assert np.array_equal(auto, bf16)
    assert np.array_equal(bf16[0::2], fp32[0::2])                    # source frames pass through
    diff = np.abs(bf16[1::2] - fp32[1::2])
    assert diff.max() <= 3 and diff.mean() < 0.1, (diff.max(), diff.mean())


@native_bf16
def test_the_motion_search_is_float32_under_autocast():
    net = tiny_motion_net().eval()
    x = torch.rand(1, 4, 3, 32, 48) * 2 - 1
    with torch.inference_mode():
        plain = net.compensate(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under = net.compensate(x)
    assert under.dtype == torch.float32 and torch.equal(plain, under)


def test_the_retired_fp16_option_names_its_replacement(tmp_path):
    clip = clip_from_frames(moving_frames(48, 32, 4))
    said = "fp16 was replaced by precision"
    for call in (lambda: core.convlstm.Interpolate(clip, device="cpu", fp16=1),
                 lambda: core.convlstm.Interpolate(clip, device="cpu", fp16=0),
                 lambda: convlstm.interpolate(clip, fp16=1)):
        with pytest.raises(vs.Error, match=f"{said}.*fp16=1 is now precision=fp16"):
            call()
    with pytest.raises(InterpolateError, match=said):
        Options.from_filter_args({"fp16": 1})
    with pytest.raises(InterpolateError, match=said):
        Options().updated(fp16=True)
    from convlstm.cli.script import parse
    with pytest.raises(vs.Error, match=f"interpolate.vpy: -a {said}"):
        parse({"input": str(tmp_path / "x.mp4"), "fp16": "1"})
    from convlstm.cli.interpolate import add_option_flags, options_from
    parser = argparse.ArgumentParser()
    add_option_flags(parser)
    for argv in (["--fp16"], ["--fp16", "0"]):
        with pytest.raises(UsageError, match="--fp16 was replaced by --precision .*use --precision fp16"):
            options_from(parser.parse_args(argv))
    assert options_from(parser.parse_args(["--precision", "bf16"])).precision == "bf16"


def test_the_bench_flag_fp16_names_its_replacement():
    from convlstm.cli.main import build_parser, cmd_bench
    args = build_parser().parse_args(["bench", "--fp16"])
    with pytest.raises(UsageError, match="--fp16 was replaced by --precision"):
        cmd_bench(args)


@pytest.mark.slow
@native_bf16
def test_bf16_keeps_the_psnr_of_fp32_on_the_demo_clip(tmp_path):
    """The gate for bf16 by default, on the bundled demo clip's first 24 frames: within 0.05 dB of fp32."""
    from convlstm.evaluate.report import evaluate
    scores = {p: evaluate(["demo"], frames=24, methods=["convlstm"], device="cpu", precision=p,
                          out_dir=tmp_path / p)[0].scores["convlstm"].mean_psnr for p in ("fp32", "bf16")}
    assert abs(scores["bf16"] - scores["fp32"]) < 0.05, scores
