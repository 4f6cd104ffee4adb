"""compile unset (auto): the learned part runs compiled on the CPU where a warm-up for the clip's size has
finished, a long clip starts that warm-up in the background, and a run is compiled or eager throughout
(filter/compiling.py)."""
import gc
import os
import time

import numpy as np
import pytest
import torch

from convlstm.config import ModelConfig
from convlstm.filter import compiling
from helpers import TINY_MOTION, clip_from_frames, moving_frames, planes_of, random_weights

CPU, GPU = torch.device("cpu"), torch.device("cuda")
INFO = {"width": 96, "height": 64, "format_name": "RGB24"}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.delenv("CONVLSTM_NO_WARM_UP", raising=False)
    return tmp_path / "cache" / "convlstm" / "inductor" / "convlstm-warm"


def key(**changes):
    parts = {"net_config": TINY_MOTION, "precision": "bf16", "batch": 1, "info": INFO, "options": {}, **changes}
    return compiling.warm_key(**parts)


def test_the_key_changes_with_what_changes_the_compiled_graph():
    assert key() == key()
    others = [key(precision="fp32"), key(batch=2), key(info={**INFO, "width": 128}), key(options={"detail": 0.5}),
              key(options={"tile": 256}), key(net_config=ModelConfig(**{**TINY_MOTION.to_dict(), "channels": (6, 12)}))]
    assert len({key(), *others}) == len(others) + 1
    assert key(options={"safety": 1.0, "mask": 1}) == key()     # the safety net runs outside the compiled part
    assert key(threads=1) != key()          # loops written for one thread of two passes side by side


def test_the_key_changes_with_the_learned_parts_layout(monkeypatch):
    """A warm-up made before the CPU's layout changed (NCHW until 2026-12-07) prepared another graph: its
    marker must not promise the next run a warm cache."""
    from convlstm.filter import engine
    nhwc = key()
    monkeypatch.setattr(engine, "CPU_LAYOUT", torch.contiguous_format)
    assert key() != nhwc


def test_the_plan_compiles_where_asked_and_on_the_cpu_after_a_warm_up(cache):
    k = key()
    assert compiling.plan(True, CPU, 10, k) and compiling.plan(True, GPU, 10, k)      # compile=1: always
    assert not compiling.plan(False, CPU, 10**6, k)                                  # compile=0: never
    long = compiling.COMPILE_MIN_FRAMES
    assert not compiling.plan(None, CPU, long, k)                 # auto: not warmed up yet
    cache.mkdir(parents=True)
    (cache / f"{k}.done").write_text("{}")
    assert compiling.plan(None, CPU, long, k)                     # warmed up: compiled
    assert not compiling.plan(None, CPU, long - 1, k)             # a short clip would not win the seconds back
    assert not compiling.plan(None, GPU, long, k)                 # not measured on a GPU: eager there
    assert not compiling.plan(None, CPU, long, k, lanes=2)        # passes side by side: eager ones made more
    assert compiling.plan(True, CPU, long, k, lanes=2)


def test_no_second_warm_up_where_one_runs_finished_or_failed(cache, monkeypatch):
    cache.mkdir(parents=True)
    k = key()
    (cache / f"{k}.running").write_text(str(os.getpid()))        # a live process holds it
    assert not compiling.start_warm_up(k, INFO, {})
    (cache / f"{k}.running").unlink()
    for mark in ("done", "failed"):
        (cache / f"{k}.{mark}").write_text("")
        assert not compiling.start_warm_up(k, INFO, {})
        (cache / f"{k}.{mark}").unlink()
    monkeypatch.setenv("CONVLSTM_NO_WARM_UP", "1")
    assert not compiling.start_warm_up(k, INFO, {})
    assert not list(cache.glob("*.json"))                         # nothing was started


def test_the_warm_up_waits_for_the_run_to_end(cache, monkeypatch):
    """Registered while the run's engine lives, started when it is freed (beside the run it slowed it)."""
    class Run:
        pass
    k, run = key(), Run()
    assert compiling.warm_up_later(run, k, INFO, {})
    assert not cache.exists() or not list(cache.iterdir())       # nothing started while the run lives
    calls = []
    monkeypatch.setattr(compiling, "start_warm_up", lambda *a: calls.append(a))
    run2 = Run()
    assert compiling.warm_up_later(run2, k, INFO, {"detail": 1.0})
    del run2
    assert calls == [(k, INFO, {"detail": 1.0})]
    monkeypatch.setenv("CONVLSTM_NO_WARM_UP", "1")
    assert not compiling.warm_up_later(Run(), k, INFO, {})
    del run                                   # start_warm_up itself (the first registration) starts nothing now
    assert not cache.exists() or not list(cache.glob("*.json"))


@pytest.mark.slow
def test_a_long_clip_warms_up_in_the_background_and_the_next_run_is_compiled(tmp_path, cache):
    """The first run of a size in one lane (lanes=1; two lanes run eager) is eager and, once it ends, starts
    the warm-up (a real process, the filter's own engine);
    once it is done, the same script runs compiled: one graph (the device constants the detail matching
    reads are made before the trace: made during it, they broke the learned part into 9 graphs, and fused
    kernels stop at every break), frames within a level of the eager ones."""
    import vapoursynth as vs
    weights = random_weights(tmp_path / "motion.pt", TINY_MOTION, seed=3)
    frames = moving_frames(96, 64, compiling.COMPILE_MIN_FRAMES // 2 + 1, speed=4)
    clip = clip_from_frames(frames)
    lanes2 = vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", detail=1.0, lanes=2)
    lanes2.get_frame(1)
    del lanes2
    gc.collect()
    assert not cache.exists() or not list(cache.glob("*.running"))   # two lanes: eager, no warm-up for them
    first = vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", detail=1.0, lanes=1)
    eager = [planes_of(first.get_frame(n)).astype(int) for n in (1, 3, 5)]
    assert not cache.exists() or not list(cache.glob("*.running"))   # not beside the run
    del first                                                         # the run ends: its filter is freed
    gc.collect()
    running = list(cache.glob("*.running"))
    assert len(running) == 1 and running[0].read_text().strip().isdigit()
    k = running[0].name.removesuffix(".running")
    deadline = time.monotonic() + 600
    while not (cache / f"{k}.done").exists():
        assert not (cache / f"{k}.failed").exists(), (cache / f"{k}.log").read_text()
        assert time.monotonic() < deadline, "the warm-up did not finish in 10 minutes"
        time.sleep(1)
    assert not (cache / f"{k}.running").exists()
    from torch._dynamo.utils import counters
    graphs = counters["stats"]["unique_graphs"]
    second = vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", detail=1.0, lanes=1)
    compiled = [planes_of(second.get_frame(n)).astype(int) for n in (1, 3, 5)]
    assert counters["stats"]["unique_graphs"] == graphs + 1
    for a, b in zip(eager, compiled):
        assert np.abs(a - b).max() <= 1
    assert any((cache.parent).rglob("*.so")) or any(cache.parent.rglob("*.py"))    # inductor's work, kept
    # compile=1 compiles whatever the cache holds (here it holds this graph: the same frames); nothing new starts
    explicit = vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", detail=1.0, compile=1, lanes=1)
    for n, b in zip((1, 3, 5), compiled):
        assert np.array_equal(planes_of(explicit.get_frame(n)).astype(int), b)
    assert not list(cache.glob("*.running"))
    with pytest.raises(vs.Error, match="compile must be 0 or 1"):
        vs.core.convlstm.Interpolate(clip, weights=str(weights), device="cpu", compile=2)
