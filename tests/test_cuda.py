"""The CUDA path (page-locked staging, per-thread streams, one wait per frame, batching, fp16/bf16).
Skipped on machines without a GPU."""
import numpy as np
import pytest
import torch
import vapoursynth as vs

from convlstm.filter.devices import cuda_usable
from convlstm.filter.planes import Plane, PlaneIO
from helpers import TINY_MOTION, clip_from_frames, moving_frames, planes_of, random_weights

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not cuda_usable(), reason="needs a CUDA GPU (torch.cuda)")]
core = vs.core


@pytest.fixture(autouse=True)
def exact_float32():
    """GPU against CPU comparisons in float32 mean float32: torch lets cuDNN convolve in TF32 (10 bits of
    mantissa) by default, which alone moves a 16-bit output by several levels."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_plane_round_trip_through_the_gpu_is_bit_exact():
    io = PlaneIO(torch.device("cuda", 0))
    src = (np.arange(37 * 64, dtype=np.uint16).reshape(37, 64) * 7) % 65535
    padded = np.zeros((37, 80), np.uint16)   # a stride wider than the row, as in VapourSynth frames
    padded[:, :64] = src
    plane = Plane(ptr=padded.ctypes.data, stride=padded.strides[0], height=37, width=64)
    t = io.read(plane, np.dtype(np.uint16))
    assert t.is_cuda and torch.equal(t.cpu().to(torch.int32), torch.from_numpy(src.astype(np.int32)))
    dst = np.zeros_like(padded)
    arrays, flags = io.fetch([t.to(torch.int32)], np.dtype(np.uint16), torch.tensor([1, 0], device="cuda"))
    io.store(arrays, [Plane(ptr=dst.ctypes.data, stride=dst.strides[0], height=37, width=64)], np.dtype(np.uint16))
    assert np.array_equal(dst[:, :64], src) and not dst[:, 64:].any() and flags == [1, 0] and io.waits == 1


def test_one_wait_for_the_device_per_made_frame(test_weights):
    """Cut and NaN checks are decided on the device and read with the frame: the host waits once per made
    frame, never per plane or per check."""
    import gc
    from convlstm.filter.stages import Stage
    clip = clip_from_frames(moving_frames(64, 48, 6))
    out = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda", precision="fp32")
    for f in out.frames():
        pass
    stage = next(o for o in gc.get_objects() if isinstance(o, Stage) and o.io.cuda and o.num_source == 6
                 and (o.width, o.height) == (64, 48))
    made = sum(1 for n in range(out.num_frames) if len(stage.plan(n)) == 4)
    assert stage.io.waits == made
    assert 1 <= len(stage.slots._streams) <= core.num_threads    # one stream per native thread, reused


def test_no_hidden_synchronisation_inside_a_frame(test_weights, tmp_path):
    """torch's sync debug mode names every wait on the device (a blocking copy, .item(), a host-side
    condition, a stream synchronize): after the first frame (constants copied once), a made frame waits
    once, in fetch."""
    import warnings
    from convlstm.filter import profile
    weights = random_weights(tmp_path / "motion.pt", TINY_MOTION)
    clip = clip_from_frames(moving_frames(96, 64, 8, speed=5))
    out = core.convlstm.Interpolate(clip, weights=str(weights), device="cuda", batch=2)
    out.get_frame(1)                                   # warm: model, constants, first window
    made_before = profile.snapshot().get("made_frames", 0)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for n in range(3, out.num_frames):
                out.get_frame(n)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    made = profile.snapshot().get("made_frames", 0) - made_before
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]
    assert made > 0 and len(syncs) <= made, (made, syncs[:3])


@pytest.mark.parametrize("batch", [1, 4])
def test_bytes_on_the_gpu_do_not_depend_on_threads_or_order(test_weights, batch):
    frames = moving_frames(96, 64, 10, speed=5)

    def run(threads, order=None):
        old = core.num_threads
        core.num_threads = threads
        try:
            out = core.convlstm.Interpolate(clip_from_frames(frames), weights=str(test_weights), device="cuda",
                                            batch=batch)
            order = order or list(range(out.num_frames))
            futures = {n: out.get_frame_async(n) for n in order}
            return {n: planes_of(f.result()).tobytes() for n, f in futures.items()}
        finally:
            core.num_threads = old
    reference = run(1)
    order = list(reference)[::-1]
    assert run(16, order) == reference


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precisions_and_channels_last_stay_close_to_fp32(precision, tmp_path):
    from convlstm.checkpoint import load_net
    from convlstm.filter.engine import Engine
    weights = random_weights(tmp_path / "motion.pt", TINY_MOTION)
    x = torch.rand(2, 4, 3, 64, 96, device="cuda") * 2 - 1
    ref = Engine(load_net(weights)[0], torch.device("cuda", 0)).predict(x)
    for channels_last in (False, True):
        out = Engine(load_net(weights)[0], torch.device("cuda", 0), precision=precision,
                     channels_last=channels_last).predict(x)
        assert (out - ref).abs().mean() < 0.02, (precision, channels_last)


@pytest.mark.parametrize("fmt", [vs.RGB24, vs.RGB48, vs.RGBS])
def test_cuda_matches_cpu(fmt, test_weights):
    frames = moving_frames(67, 45, 5, fmt)
    clip = clip_from_frames(frames, fmt)
    cpu = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cpu", precision="fp32")
    gpu = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda", precision="fp32")
    for n in range(cpu.num_frames):
        a, b = planes_of(cpu.get_frame(n)).astype(np.float64), planes_of(gpu.get_frame(n)).astype(np.float64)
        f = core.get_video_format(fmt)
        tol = 1 if f.sample_type == vs.INTEGER else 1e-4
        assert np.abs(a - b).max() <= tol, f"frame {n}"


@pytest.mark.parametrize("fp16", [0, 1])
def test_cuda_matches_cpu_with_the_scale_fusion(fp16, fusion_weights):   # fp16: precision=fp16, else fp32
    frames = moving_frames(67, 45, 5, vs.RGB24, speed=7)
    clip = clip_from_frames(frames, vs.RGB24)
    cpu = core.convlstm.Interpolate(clip, weights=str(fusion_weights), device="cpu", precision="fp32")
    gpu = core.convlstm.Interpolate(clip, weights=str(fusion_weights), device="cuda",
                                   precision="fp16" if fp16 else "fp32")
    for n in range(cpu.num_frames):
        a, b = planes_of(cpu.get_frame(n)).astype(int), planes_of(gpu.get_frame(n)).astype(int)
        assert np.abs(a - b).max() <= (1 if not fp16 else 3), f"frame {n}"


@pytest.mark.parametrize("fp16", [0, 1])
def test_cuda_matches_cpu_with_motion_compensation(fp16, tmp_path):
    """Block matching on the GPU: the same vectors up to ties that float rounding may break differently."""
    weights = random_weights(tmp_path / "motion.pt", TINY_MOTION)
    clip = clip_from_frames(moving_frames(96, 64, 5, vs.RGB24, speed=6), vs.RGB24)
    cpu = core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", precision="fp32", factor=3)
    gpu = core.convlstm.Interpolate(clip, weights=str(weights), device="cuda", precision="fp16" if fp16 else "fp32",
                                   factor=3)
    for n in range(cpu.num_frames):
        diff = np.abs(planes_of(cpu.get_frame(n)).astype(int) - planes_of(gpu.get_frame(n)).astype(int))
        assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= (3 if not fp16 else 5), f"frame {n}"


def test_fp16_is_default_for_rgbh_and_close_to_fp32(test_weights):
    frames = moving_frames(64, 32, 4, vs.RGBH)
    clip = clip_from_frames(frames, vs.RGBH)
    half = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda")
    full = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda", precision="fp32")
    a, b = planes_of(half.get_frame(1)).astype(np.float32), planes_of(full.get_frame(1)).astype(np.float32)
    assert np.abs(a - b).max() < 1e-2


def test_device_index_beyond_count_is_an_error():
    clip = core.std.BlankClip(format=vs.RGB24, length=3, width=16, height=16)
    with pytest.raises(vs.Error, match="does not exist"):
        core.convlstm.Interpolate(clip, device=f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(not cuda_usable() or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_two_instances_on_two_gpus_keep_their_own_model(test_weights):
    frames = moving_frames(64, 48, 4, vs.RGB24)
    clip = clip_from_frames(frames)
    a = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda:0", precision="fp32")
    b = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda:1", precision="fp32")
    torch.cuda.reset_peak_memory_stats(0)
    torch.cuda.reset_peak_memory_stats(1)
    fa, fb = planes_of(a.get_frame(1)), planes_of(b.get_frame(1))
    assert np.abs(fa.astype(int) - fb).max() <= 1
    assert torch.cuda.max_memory_allocated(0) > 0 and torch.cuda.max_memory_allocated(1) > 0


@pytest.mark.parametrize("fmt", [vs.YUV420P8, vs.YUV422P10, vs.YUV444PS])
def test_yuv_conversion_on_the_gpu_matches_cpu(fmt, test_weights):
    rgb = clip_from_frames(moving_frames(64, 48, 4, vs.RGBS), vs.RGBS)
    clip = rgb.resize.Bicubic(format=fmt, matrix_s="709")
    cpu = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cpu", precision="fp32")
    gpu = core.convlstm.Interpolate(clip, weights=str(test_weights), device="cuda", precision="fp32")
    f = core.get_video_format(fmt)
    tol = 1 if f.sample_type == vs.INTEGER else 1e-4
    for p in range(3):
        a = np.asarray(cpu.get_frame(1)[p]).astype(np.float64)
        b = np.asarray(gpu.get_frame(1)[p]).astype(np.float64)
        assert np.abs(a - b).max() <= tol


def test_cuda_memory_stays_flat_over_5000_frames(test_weights):
    """The device side of the soak: allocated CUDA memory must not grow over 5 000 output frames."""
    clips = [core.std.BlankClip(width=320, height=240, format=vs.RGB24, length=1,
                                color=[(i * 37) % 256, (i * 91) % 256, (i * 13) % 256]) for i in range(50)]
    src = core.std.Splice(clips * 50)
    out = core.convlstm.Interpolate(src, weights=str(test_weights), device="cuda", sc_threshold=0)
    samples = []
    for n, _ in enumerate(out.frames(prefetch=core.num_threads)):
        if n % 100 == 0:
            samples.append(torch.cuda.memory_allocated(0))
    q = len(samples) // 4
    growth_mib = (np.mean(samples[3 * q:]) - np.mean(samples[q:2 * q])) / 2**20
    assert growth_mib < 16, f"CUDA memory grew {growth_mib:.1f} MiB"


def test_bench_rows_on_the_gpu(tmp_path):
    """What only a GPU row has: device memory read before the seam and counting ran whole frames (a tiled
    row peaks lower than a whole one), each stage timed after its device work finished, op counts."""
    from convlstm.evaluate.bench import bench, parse_sizes
    rows = bench(parse_sizes("512x384"), device="cuda", frames=4, json_path=tmp_path / "b.json", batches=[2],
                 precisions=["fp16"], tiles=[0, 128])
    whole, tiled = rows
    assert whole["windows_per_pass"] >= 1 and whole["motion_s_per_frame"] > 0 and whole["learned_s_per_frame"] > 0
    assert whole["ops_per_pass"] > whole["motion_ops_per_pass"] > 0 and whole["peak_cuda_mib"] > 0
    assert "seam_max_levels" in tiled and "motion_s_per_frame" not in tiled
    assert 0 < tiled["peak_cuda_mib"] < whole["peak_cuda_mib"]
