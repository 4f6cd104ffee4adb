"""The throughput path below the filter: the batcher (windows from concurrent threads meet in fixed-size
forward passes, and no output bit depends on which pass a window lands in, its place there or its
companions) and the engine's memory bound (tiles)."""
import threading
import time

import numpy as np
import pytest
import torch

from convlstm.checkpoint import load_net
from convlstm.filter.batcher import Batcher, per_thread_threads
from convlstm.filter.engine import Engine
from convlstm.errors import InterpolateError
from helpers import TINY_MOTION, random_weights


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    weights = random_weights(tmp_path_factory.mktemp("w") / "motion.pt", TINY_MOTION, seed=3)
    return Engine(load_net(weights)[0], torch.device("cpu"))


def windows(count: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(count, 4, 3, 24, 40, generator=g) * 2 - 1


class GatedEngine:
    """The real engine, held at its first pass until the test opens the gate: lets the other threads queue."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.gate, self.first = engine, threading.Event(), True
        self.device = engine.device
        self.threads: list[int] = []     # torch's threads each pass ran on, in the order they started

    def predict(self, frames, t):
        self.threads.append(torch.get_num_threads())
        if self.first:
            self.first = False
            assert self.gate.wait(30)
        return self.engine.predict(frames, t)


def in_threads(batcher: Batcher, items: list[tuple[torch.Tensor, float]]) -> list[torch.Tensor]:
    results: list = [None] * len(items)

    def serve(k: int) -> None:
        try:
            results[k] = batcher.predict(*items[k])
        except Exception as exc:   # the test reads it
            results[k] = exc
    threads = [threading.Thread(target=serve, args=(k,)) for k in range(len(items))]
    for th in threads:
        th.start()
    return threads, results


def test_a_window_gives_the_same_bits_alone_or_in_any_company(engine):
    w = windows(6)
    times = [0.5, 0.25, 0.75, 0.5, 1 / 3, 0.5]
    alone = [Batcher(engine, 4).predict(w[k], times[k]) for k in range(6)]
    gated = GatedEngine(engine)
    batcher = Batcher(gated, 4)
    threads, results = in_threads(batcher, [(w[k], times[k]) for k in range(6)])
    deadline = time.time() + 30
    while len(batcher._queue) < 5 and time.time() < deadline:   # one pass running, the rest queued behind it
        time.sleep(0.01)
    gated.gate.set()
    for th in threads:
        th.join(60)
    assert batcher.passes == 3 and batcher.windows == 6   # 1 (held), then 4 together, then the last 1
    for k in range(6):
        assert torch.equal(results[k], alone[k]), k


def test_lanes_run_passes_side_by_side_each_on_its_share_of_the_threads(engine):
    """While one pass runs, the next starts at once; every pass, alone or not, on the same share (a
    frame's bits may follow the threads that made it: the module docstring)."""
    if not per_thread_threads():
        pytest.skip("torch's threads here are one pool for the process (not OpenMP)")
    w = windows(3, seed=4)
    alone = [Batcher(engine, 1).predict(w[k]) for k in range(3)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gated = GatedEngine(engine)
        batcher = Batcher(gated, 1, lanes=2)
        threads, results = in_threads(batcher, [(w[0], 0.5)])
        deadline = time.time() + 30
        while not gated.threads and time.time() < deadline:
            time.sleep(0.01)
        second = batcher.predict(w[1])          # the first pass is held: this one runs beside it
        assert batcher._running == 1 and results[0] is None
        gated.gate.set()
        threads[0].join(60)
        third = batcher.predict(w[2])            # alone
        assert torch.get_num_threads() == 2      # the serving thread's own count is as it was
    finally:
        torch.set_num_threads(before)
    assert gated.threads == [1, 1, 1]
    for k, out in enumerate((results[0], second, third)):
        assert torch.equal(out, alone[k]), k


def test_one_lane_is_one_pass_at_a_time_on_every_thread(engine):
    gated = GatedEngine(engine)
    batcher = Batcher(gated, 1, lanes=1)
    threads, results = in_threads(batcher, [(windows(1)[0], 0.5), (windows(1, 1)[0], 0.5)])
    deadline = time.time() + 30      # the first pass held in the engine, the second queued behind it (on a busy
    while (len(batcher._queue) < 1 or not gated.threads) and time.time() < deadline:   # machine the one may
        time.sleep(0.01)                                                               # come before the other)
    assert batcher._running == 1 and len(gated.threads) == 1     # the second waits for the first
    gated.gate.set()
    for th in threads:
        th.join(60)
    assert gated.threads == [torch.get_num_threads()] * 2


def test_batch_size_is_the_shape_of_every_pass(engine):
    """Padding to the batch size is what keeps the bits: a pass of another size may round differently."""
    w = windows(1, seed=2)
    padded = engine.predict(torch.stack([w[0]] * 4))[0]
    assert torch.equal(Batcher(engine, 4).predict(w[0]), padded)
    assert torch.equal(Batcher(engine, 1).predict(w[0]), engine.predict(w[:1])[0])


def test_an_error_reaches_every_waiting_thread_and_the_batcher_recovers(engine):
    gated = GatedEngine(engine)
    batcher = Batcher(gated, 4)
    bad = torch.zeros(4, 3, 24)           # not a window
    threads, results = in_threads(batcher, [(windows(1)[0], 0.5), (bad, 0.5), (windows(1, 1)[0], 0.5)])
    deadline = time.time() + 30
    while len(batcher._queue) < 2 and time.time() < deadline:
        time.sleep(0.01)
    gated.gate.set()
    for th in threads:
        th.join(60)
    assert isinstance(results[0], torch.Tensor)
    assert isinstance(results[1], Exception) and isinstance(results[2], Exception)   # they shared the pass
    assert torch.equal(batcher.predict(windows(1)[0]), results[0])                    # and it serves again


def test_batch_sizes_outside_the_range_are_refused(engine):
    with pytest.raises(ValueError, match="1..16"):
        Batcher(engine, 0)
    with pytest.raises(ValueError, match="lanes must be 1..16"):
        Batcher(engine, 1, lanes=0)
    with pytest.raises(InterpolateError, match="precision=fp16 needs a CUDA device.*use precision=fp32"):
        Engine(engine.net, torch.device("cpu"), precision="fp16")
    with pytest.raises(InterpolateError, match="precision must be one of"):
        Engine(engine.net, torch.device("cpu"), precision="fp8")


def test_tiles_cover_the_frame_and_stay_close_to_whole_frames(engine):
    """Tiles of 64 px with 64 px of context on a 150x100 frame (not a multiple of anything): every pixel
    comes from one tile's core, motion is searched on the whole frame, and the learned part (local, and
    the tiny net sees less than 64 px around a pixel) gives the whole-frame result up to rounding."""
    from helpers import moving_frames
    frames = torch.from_numpy(np.stack(moving_frames(150, 100, 4, speed=5))).float() / 127.5 - 1
    whole = engine.predict(frames[None])
    tiled = Engine(engine.net, torch.device("cpu"), tile=64).predict(frames[None])
    assert tiled.shape == whole.shape == (1, 3, 100, 150)
    assert (tiled - whole).abs().max() < 1e-4


def test_bad_tiles_are_refused(engine):
    with pytest.raises(InterpolateError, match="at least 64 px"):
        Engine(engine.net, torch.device("cpu"), tile=32)
    import vapoursynth as vs
    clip = vs.core.std.BlankClip(format=vs.RGB24, length=4, width=16, height=16)
    with pytest.raises(vs.Error, match="tile must be 0"):
        vs.core.convlstm.Interpolate(clip, device="cpu", tile=10)


def test_the_filter_takes_tiles(tmp_path):
    import vapoursynth as vs
    from helpers import clip_from_frames, moving_frames, planes_of
    weights = random_weights(tmp_path / "motion.pt", TINY_MOTION, seed=3)
    clip = clip_from_frames(moving_frames(150, 100, 4, speed=5))
    whole = vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu")
    tiled = vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", tile=64)
    a, b = planes_of(whole.get_frame(3)).astype(int), planes_of(tiled.get_frame(3)).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() < 1


def test_a_tensor_time_keeps_half_precision_nets_in_their_dtype():
    """The engine passes one time per window as a tensor; a float32 t must not lift a bf16 (or fp16) blend
    to float32, which the next convolution of the net would refuse."""
    from convlstm.model import Net
    from helpers import TINY
    frames = windows(2).to(torch.bfloat16)
    for cfg in (TINY, TINY_MOTION):
        net = Net(cfg).eval().to(torch.bfloat16)
        with torch.inference_mode():
            out = net(frames, torch.tensor([0.5, 0.5], dtype=torch.float64)).frame
        assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_the_device_cut_rule_is_the_host_rule():
    """A difference standing alone in its window is a cut exactly where the host rule says (compared in
    double: 0.15 as a float32 is above 0.15)."""
    from convlstm.filter.scenes import cut_at, cuts_at
    for v in (0.1, 0.15, 0.2, 0.0, 0.35):
        window = torch.tensor([0.0, v, 0.0], dtype=torch.float32)
        for threshold in (0.15, 0.0, 0.1):
            assert cuts_at(window, threshold).tolist() == [False, cut_at(float(window[1]), threshold), False]


def test_fast_motion_over_texture_is_no_cut_but_a_cut_that_stands_out_is():
    """Every frame of a fast hand-held sweep over high-contrast texture differs from the next by about as
    much as a cut would (0.16-0.17 of full range on a held-out clip): only a difference that stands out of
    its window (1.5x the others), or one above twice the threshold, is a cut."""
    from convlstm.filter.scenes import cuts_at
    def cuts(*d):
        return cuts_at(torch.tensor(d, dtype=torch.float32), 0.15).tolist()
    assert cuts(0.116, 0.171, 0.165) == [False, False, False]       # the sweep
    assert cuts(0.171, 0.165, 0.16) == [False, False, False]
    assert cuts(0.02, 0.2, 0.03) == [False, True, False]            # a cut between quiet shots
    assert cuts(0.16, 0.31, 0.16) == [False, True, False]           # between two fast ones: above 0.30
    assert cuts(0.16, 0.2, 0.16) == [False, False, False]           # does not stand out: motion
    assert cuts(0.0, 0.0, 0.4) == [False, False, True]


