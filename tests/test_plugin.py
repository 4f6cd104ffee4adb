"""The native filter end to end: real VapourSynth, the real vspipe, the 2x contract of docs/design.md."""
import gc
import json
import warnings

import numpy as np
import pytest
import torch
import vapoursynth as vs

import convlstm
from convlstm.filter.engine import Engine
from convlstm.checkpoint import load_net
from convlstm.filter.formats import PixelFormat
from convlstm.filter.stages import Stage
from convlstm.filter.schedule import Timed
from helpers import clip_from_frames, filter_precision, moving_frames, planes_of, raw_frames, run_vspipe

core = vs.core

SCRIPT = """
import vapoursynth as vs
import numpy as np
core = vs.core
w, h, n = {w}, {h}, {n}
yy, xx = np.mgrid[0:h, 0:w]
def fill(n, f):
    i = n
    f = f.copy()
    for p in range(3):
        a = np.asarray(f[p])
        a[:] = ((xx * 7 + yy * 3 + p * 40) % 200).astype(a.dtype)
        a[h // 4: h // 2, (i * 5) % w: (i * 5) % w + w // 4] = 250
    return f
blank = core.std.BlankClip(width=w, height=h, format=vs.RGB24, length=n, fpsnum=25, fpsden=1)
src = core.std.ModifyFrame(blank, blank, fill)
{body}
"""


def expected_window_output(weights, frames, n):
    """What output frame n must be: the net on the clamped window (independent of the plugin's plumbing), in
    the precision the filter takes by default here (precision=auto)."""
    fmt = PixelFormat("RGB24", 8, False)
    engine = Engine(load_net(weights)[0], torch.device("cpu"), precision=filter_precision())
    window = Timed(2, len(frames)).plan(n)
    x = fmt.to_unit(torch.from_numpy(np.stack([frames[i] for i in window])))[None]
    return fmt.from_unit(engine.predict(x)[0]).numpy()


@pytest.mark.slow
def test_vspipe_doubles_the_clip_without_any_import(tmp_path):
    w, h, n = 48, 32, 7
    body = "src.set_output(1)\ncore.convlstm.Interpolate(src).set_output(0)"
    info = run_vspipe(SCRIPT.format(w=w, h=h, n=n, body=body), tmp_path, "--info")
    assert info.returncode == 0, info.stderr.decode()
    text = info.stdout.decode()
    assert "Frames: 14" in text and "FPS: 50/1" in text and "RGB24" in text

    out = run_vspipe(SCRIPT.format(w=w, h=h, n=n, body=body), tmp_path, "-j", str(tmp_path / "props.json"))
    assert out.returncode == 0, out.stderr.decode()
    frames = raw_frames(out.stdout, w, h, np.uint8)
    src = raw_frames(run_vspipe(SCRIPT.format(w=w, h=h, n=n, body=body), tmp_path, "-o", "1").stdout, w, h, np.uint8)
    assert len(frames) == 2 * n and len(src) == n
    for i in range(n):
        assert np.array_equal(frames[2 * i], src[i]), f"even output {2 * i} is not source {i} bit for bit"
    for i in range(n - 1):
        odd = frames[2 * i + 1].astype(int)
        assert np.abs(odd - src[i]).sum() > 0 and np.abs(odd - src[i + 1]).sum() > 0
    assert np.array_equal(frames[-1], src[-1]), "the last output repeats the last source frame"
    props = json.loads((tmp_path / "props.json").read_text())
    props = props["frames"] if isinstance(props, dict) else props
    assert [p["_DurationNum"] for p in props] == [1] * 14 and [p["_DurationDen"] for p in props] == [50] * 14
    assert [p["ConvLSTMInterpolated"] for p in props] == [0, 1] * (n - 1) + [0, 0]


def test_even_frames_keep_props_and_odd_frames_use_clamped_windows(test_weights):
    frames = moving_frames(40, 24, 6)
    src = clip_from_frames(frames)
    out = core.convlstm.Interpolate(src, weights=str(test_weights))
    assert out.num_frames == 12 and out.fps == src.fps * 2
    for n in range(out.num_frames):
        f = out.get_frame(n)
        got = planes_of(f)
        window = Timed(2, 6).plan(n)
        assert f.props["SourceIndex"] == window[0 if len(window) == 1 else 1]
        assert (f.props["_DurationNum"], f.props["_DurationDen"]) == (1001, 48000)
        if len(window) == 1:
            assert np.array_equal(got, frames[window[0]])
        else:
            assert f.props["ConvLSTMInterpolated"] == 1
            assert np.array_equal(got, expected_window_output(test_weights, frames, n)), f"frame {n}"


def test_python_function_is_the_same_filter(test_weights):
    src = clip_from_frames(moving_frames(32, 16, 4))
    a = convlstm.interpolate(src, weights=test_weights, device="cpu")
    b = core.convlstm.Interpolate(src, weights=str(test_weights), device="cpu")
    for n in range(a.num_frames):
        assert np.array_equal(planes_of(a.get_frame(n)), planes_of(b.get_frame(n)))
    with pytest.raises(vs.Error, match="batch must be 1..16"):   # every argument reaches the filter
        convlstm.interpolate(src, weights=test_weights, device="cpu", batch=99)
    with pytest.raises(vs.Error, match="tile must be 0"):
        convlstm.interpolate(src, weights=test_weights, device="cpu", tile=3)


def test_untrained_weights_equal_blending():
    frames = moving_frames(24, 16, 3)
    out = core.convlstm.Interpolate(clip_from_frames(frames), weights="untrained")
    got = planes_of(out.get_frame(1)).astype(int)
    blend = (frames[0].astype(int) + frames[1]) / 2
    assert np.abs(got - blend).max() <= 0.5


@pytest.mark.parametrize("fmt", [vs.RGB24, vs.RGB27, vs.RGB30, vs.RGB48, vs.RGBH, vs.RGBS],
                         ids=["RGB24", "RGB27", "RGB30", "RGB48", "RGBH", "RGBS"])
@pytest.mark.parametrize("size", [(33, 17), (1, 1), (64, 48)])
def test_accepted_formats_and_odd_sizes(fmt, size, test_weights):
    w, h = size
    frames = moving_frames(w, h, 3, fmt)
    out = core.convlstm.Interpolate(clip_from_frames(frames, fmt), weights=str(test_weights))
    assert out.format.id == vs.core.get_video_format(fmt).id and (out.width, out.height) == (w, h)
    mid = planes_of(out.get_frame(1))
    assert mid.shape == (3, h, w) and mid.dtype == frames[0].dtype
    assert np.array_equal(planes_of(out.get_frame(2)), frames[1])
    f = vs.core.get_video_format(fmt)
    if f.sample_type == vs.INTEGER:
        assert mid.max() <= (1 << f.bits_per_sample) - 1
    else:
        assert np.isfinite(mid).all() and mid.min() >= -0.5 and mid.max() <= 1.5


def refused(match, clip, **kwargs):
    with pytest.raises(vs.Error, match=match):
        core.convlstm.Interpolate(clip, **kwargs)


def test_scales_switches_the_half_size_pass_of_a_two_scale_model(tmp_path, fusion_weights, test_weights):
    from convlstm.checkpoint import save_checkpoint
    from convlstm.model import Net
    from helpers import TINY
    fused, _ = load_net(fusion_weights)
    single = Net(TINY)
    single.load_state_dict({k: v for k, v in fused.state_dict().items() if not k.startswith("fusion.")})
    save_checkpoint(tmp_path / "single.pt", single)
    clip = clip_from_frames(moving_frames(70, 38, 4, speed=8))
    def mid(**kwargs):
        return planes_of(core.convlstm.Interpolate(clip, device="cpu", **kwargs).get_frame(3)).astype(int)
    both, only_full = mid(weights=str(fusion_weights)), mid(weights=str(fusion_weights), scales=1)
    assert np.array_equal(mid(weights=str(fusion_weights), scales=2), both)       # the model's own default
    assert np.abs(only_full - mid(weights=str(tmp_path / "single.pt"))).max() <= 1  # = the paper's single pass
    assert np.abs(both - only_full).mean() > 0.05                                 # the fusion did something
    refused("scales must be 1 .* or 2", clip, weights=str(fusion_weights), scales=3)
    refused("scales=2 needs weights trained with a scale fusion", clip, weights=str(test_weights), scales=2)
    out = convlstm.interpolate(clip, weights=str(fusion_weights), device="cpu", scales=1)
    assert np.array_equal(planes_of(out.get_frame(3)).astype(int), only_full)


def test_refused_formats_name_the_fix():
    gray = core.std.BlankClip(format=vs.GRAY8, length=4)
    refused(r"convlstm\.Interpolate: input format Gray8 is not supported.*RGB24.*core\.resize\.Bicubic", gray)
    refused("YUV410P8 is not supported", core.std.BlankClip(format=vs.YUV410P8, length=4))
    refused("YUV440P8 is not supported", core.std.BlankClip(format=vs.YUV440P8, length=4))
    refused("RGB or YUV 4:2:0", core.std.BlankClip(format=vs.GRAYS, length=4))
    a = core.std.BlankClip(format=vs.RGB24, length=2, width=16, height=16)
    refused("variable format", core.std.Splice([a, core.std.BlankClip(format=vs.RGB48, length=2, width=16, height=16)],
                                               mismatch=True))
    refused("variable size", core.std.Splice([a, core.std.BlankClip(format=vs.RGB24, length=2, width=8, height=8)],
                                             mismatch=True))
    refused("at least 2 are needed", core.std.BlankClip(format=vs.RGB24, length=1))


def test_refused_arguments(tmp_path, test_weights):
    clip = core.std.BlankClip(format=vs.RGB24, length=4, width=16, height=16)
    refused("device 'gpu' is not valid", clip, device="gpu")
    refused("precision=fp16 needs a CUDA device", clip, device="cpu", precision="fp16")
    refused("precision must be one of auto, fp32, fp16, bf16, got 'half'", clip, device="cpu", precision="half")
    refused("fp16 was replaced by precision", clip, device="cpu", fp16=1)
    refused("batch must be 1..16", clip, device="cpu", batch=0)
    refused("batch must be 1..16", clip, device="cpu", batch=17)
    refused("does not exist", clip, weights=str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    refused("not a readable checkpoint", clip, weights=str(tmp_path / "junk.pt"))
    torch.save({"format": "other"}, tmp_path / "other.pt")
    refused("not a vapoursynth-convlstm checkpoint", clip, weights=str(tmp_path / "other.pt"))
    data = torch.load(test_weights, weights_only=True)
    del data["state_dict"]["refinement.out.bias"]
    torch.save(data, tmp_path / "mismatch.pt")
    refused("does not match its model config", clip, weights=str(tmp_path / "mismatch.pt"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_an_error():
    clip = core.std.BlankClip(format=vs.RGB24, length=4, width=16, height=16)
    refused("no usable CUDA GPU", clip, device="cuda")
    refused("no usable CUDA GPU", clip, device="cuda:1")


@pytest.mark.slow
def test_frame_error_surfaces_through_vspipe(tmp_path):
    script = """
import vapoursynth as vs, numpy as np
core = vs.core
blank = core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=6, color=[0.5, 0.5, 0.5])
def poison(n, f):
    f = f.copy()
    if n == 3:
        np.asarray(f[0])[2, 2] = np.nan
    return f
core.convlstm.Interpolate(core.std.ModifyFrame(blank, blank, poison)).set_output()
"""
    out = run_vspipe(script, tmp_path, output="--")
    err = out.stderr.decode()
    assert out.returncode != 0
    assert "convlstm.Interpolate: cannot interpolate output frame" in err and "NaN/Inf" in err


def test_filter_error_in_python_gets_frame_error_not_crash():
    blank = core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=4)
    def poison(n, f):
        f = f.copy()
        np.asarray(f[1])[0, 0] = np.inf
        return f
    out = core.convlstm.Interpolate(core.std.ModifyFrame(blank, blank, poison))
    assert np.array_equal(planes_of(out.get_frame(0))[0], np.zeros((16, 16), np.float32))
    with pytest.raises(vs.Error, match="frame 1: the input frames contain NaN/Inf"):
        out.get_frame(1)


def test_thread_count_does_not_change_bytes(test_weights):
    """With passes side by side (lanes: 2 by default on a CPU of 2 threads or more) or one at a time."""
    frames = moving_frames(40, 24, 8)
    for lanes in (None, 1, 3):
        results = []
        for threads in (1, 4):
            c = vs.core
            old = c.num_threads
            c.num_threads = threads
            try:
                out = c.convlstm.Interpolate(clip_from_frames(frames), weights=str(test_weights), lanes=lanes)
                results.append([planes_of(f) for f in out.frames()])
            finally:
                c.num_threads = old
        assert all(np.array_equal(a, b) for a, b in zip(*results)), lanes


def test_lanes_out_of_range_or_on_a_gpu_are_refused():
    clip = core.std.BlankClip(width=16, height=16, format=vs.RGBS, length=4)
    with pytest.raises(vs.Error, match="lanes must be 1..16"):
        core.convlstm.Interpolate(clip, lanes=0)
    from convlstm.errors import InterpolateError
    from convlstm.filter.stages import choose_lanes
    with pytest.raises(InterpolateError, match="use batch="):
        choose_lanes(2, torch.device("cuda"), 640, 360)
    assert choose_lanes(None, torch.device("cuda"), 640, 360) == 1
    assert choose_lanes(None, torch.device("cpu"), 3840, 2160) == 1     # two 4K passes' memory: one at a time


def test_request_order_does_not_change_bytes(test_weights):
    """Decoded source frames are cached across windows: any request order must give the same frames."""
    frames = moving_frames(40, 24, 10)
    out = core.convlstm.Interpolate(clip_from_frames(frames), weights=str(test_weights))
    sequential = [planes_of(f) for f in out.frames()]
    fresh = core.convlstm.Interpolate(clip_from_frames(frames), weights=str(test_weights))
    order = np.random.default_rng(5).permutation(fresh.num_frames)
    shuffled = {int(n): planes_of(fresh.get_frame(int(n))) for n in order}
    for n in range(out.num_frames):
        assert np.array_equal(sequential[n], shuffled[n]), n
    for n in (1, 7, 17):
        np.testing.assert_array_equal(sequential[n], expected_window_output(test_weights, frames, n))


def test_node_release_frees_the_python_core(test_weights):
    def live():
        gc.collect()
        with warnings.catch_warnings():  # isinstance on some torch module objects warns
            warnings.simplefilter("ignore")
            return sum(isinstance(o, Stage) for o in gc.get_objects())
    before = live()
    out = core.convlstm.Interpolate(clip_from_frames(moving_frames(16, 16, 3)), weights=str(test_weights))
    out.get_frame(1)
    assert live() == before + 1
    del out
    assert live() == before


def test_default_weights_load_and_say_what_they_are(tmp_path):
    """The bundled model loads, makes new frames that are not the blend, and its checkpoint says what it is:
    the model the docs describe (motion-compensated, any time position, detail matching on, the full-size
    pass only), how long it trained, on what, and how it scored on held-out clips."""
    from convlstm.checkpoint import DEFAULT_WEIGHTS
    assert DEFAULT_WEIGHTS.is_file() and DEFAULT_WEIGHTS.stat().st_size < 20 * 2**20
    net, meta = load_net(DEFAULT_WEIGHTS)
    assert net.any_time and net.config.motion == "block"
    assert net.config.detail == 1.0 and net.config.scales == 1 and net.fusion is None
    assert meta["step"] > 0 and meta["elapsed_s"] > 0 and meta["device"] and meta["torch"]
    assert meta["config"]["model"]["motion"] == "block" and any(k.endswith(":psnr") for k in meta["validation"])
    frames = moving_frames(40, 24, 4)
    made = planes_of(core.convlstm.Interpolate(clip_from_frames(frames), device="cpu").get_frame(1))
    blend = (frames[0].astype(np.uint16) + frames[1] + 1) // 2
    assert made.shape == (3, 24, 40) and np.abs(made.astype(int) - blend).max() > 10


def test_a_python_without_torch_gets_a_sentence_naming_it_and_the_install_command():
    """As in a host whose Python lacks torch (sys.modules[name] = None is how Python marks a module absent)."""
    import subprocess
    import sys
    code = ("import sys; sys.modules['torch'] = None\n"
            "import vapoursynth as vs\n"
            "clip = vs.core.std.BlankClip(format=vs.RGB24, width=32, height=32, length=4)\n"
            "try:\n    vs.core.convlstm.Interpolate(clip)\nexcept vs.Error as e:\n    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "convlstm.Interpolate: torch is not installed in the Python that VapourSynth runs" in r.stdout, r.stdout
    assert sys.executable in r.stdout and "pip install torch" in r.stdout


def test_a_plugin_and_package_from_different_versions_are_told_apart():
    """The bridge refuses a plugin speaking another contract, and checks the stage facts C will read."""
    from convlstm.errors import InterpolateError
    from convlstm.filter import bridge
    from convlstm.filter.contract import CONTRACT, check_stage
    info = {"width": 32, "height": 32, "num_frames": 4, "fps_num": 24, "fps_den": 1, "color_family": vs.RGB,
            "sample_type": vs.INTEGER, "bits_per_sample": 8, "sub_sampling_w": 0, "sub_sampling_h": 0,
            "format_name": "RGB24"}
    with pytest.raises(InterpolateError, match=r"native plugin \(contract None\).*reinstall"):
        bridge.build(info, {})
    stages = bridge.build({**info, "contract": CONTRACT}, {"weights": "untrained", "device": "cpu"})
    assert stages and all(isinstance(getattr(s, "num_frames"), int) for s in stages)

    class Broken:
        num_frames, fps_num, fps_den, duration_divisor, clears_next = 8, 48, 1, 2, 1.0
    with pytest.raises(InterpolateError, match="clears_next is 1.0, not an int"):
        check_stage(Broken())


def test_a_still_window_gives_its_picture_without_running_the_net(test_weights):
    """Four equal frames (a still shot, a title card, a paused screen): the new frame is that picture, bit
    for bit (the random test weights' own residual would change it), and the net does not run for it."""
    from convlstm.filter import profile
    frames = moving_frames(40, 24, 8)
    still = [frames[0]] * 5 + frames[5:]
    out = core.convlstm.Interpolate(clip_from_frames(still), weights=str(test_weights), device="cpu")
    profile.snapshot(reset=True)
    for n in (1, 3, 5):          # windows (0,0,1,2), (0,1,2,3), (1,2,3,4): all the one picture
        f = out.get_frame(n)
        assert np.array_equal(planes_of(f), frames[0]) and f.props["ConvLSTMInterpolated"] == 1
    assert profile.snapshot().get("still_frames") == 3
    moving = planes_of(out.get_frame(9))     # (3,4,5,6): moving, the net's frame
    assert not np.array_equal(moving, still[4]) and not np.array_equal(moving, still[5])
    assert np.array_equal(moving, expected_window_output(test_weights, still, 9))
