"""Windows requested together run as one forward pass of a fixed size.

Each thread serving an output frame hands its window in and gets its frame back. Whoever finds the net
idle runs every window waiting (up to ``size``) at once; the others wait for their result, and meanwhile
new windows queue for the next pass. No thread waits for company: a lone request runs at once, so
batching adds no latency, only throughput where frames are requested together.

Every pass has exactly ``size`` windows (the rest are copies of the last one): a convolution's sums may
be ordered differently at another batch size, and an output frame must not change by one bit with the
batch it happens to land in, its position there, its companions or the number of threads.

On the CPU up to ``lanes`` passes run at once, each on an equal share of torch's threads: the net's many
small elementwise steps leave the second thread of a pass idle much of the time, and two passes of one
thread keep both cores busy. Every pass runs on that share, alone or not: oneDNN's convolutions of tiny
maps (a 160x90 clip's deepest level, 6x10) are summed in another order on another number of threads, so a
share that followed the load would make a frame's bits depend on what ran beside it. Only where torch's
threads are OpenMP's, which are set per calling thread (``per_thread_threads``); elsewhere one lane.
"""
from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass
from typing import Optional

import torch

from ..options import MAX_BATCH, MAX_LANES
from . import profile
from .engine import Engine
from .streams import mark_ready, use_here


def _copy(error: BaseException) -> BaseException:
    try:
        fresh = copy.copy(error)
    except Exception:
        fresh = RuntimeError(str(error))
    fresh.__cause__ = None
    return fresh.with_traceback(None)


@dataclass
class _Job:
    window: torch.Tensor                 # (4, 3, H, W) on the device
    t: float
    ready: Optional[object]              # CUDA event: the window is complete on its thread's stream
    result: Optional[torch.Tensor] = None
    done: Optional[object] = None        # CUDA event: the result is complete on the runner's stream
    error: Optional[BaseException] = None


def per_thread_threads() -> bool:
    """Whether torch.set_num_threads sets the calling thread's own count (OpenMP's, as in the Linux and
    Windows wheels): torch's native pool (macOS) is one for the process and is sized once."""
    return "OpenMP" in torch.__config__.parallel_info()


@contextlib.contextmanager
def threads(count: int):
    """torch's intra-op threads for this thread's work inside the block, as they were after it."""
    before = torch.get_num_threads()
    if count != before:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count != before:
            torch.set_num_threads(before)


def lane_threads(lanes: int) -> int:
    """torch's threads each of ``lanes`` passes at once runs on: an equal share of this thread's."""
    return max(1, torch.get_num_threads() // lanes)


class Batcher:
    """Serves ``predict`` for any number of threads with forward passes of ``size`` windows, at most
    ``lanes`` of them at once (module docstring; more than 1 on the CPU only)."""

    def __init__(self, engine: Engine, size: int = 1, lanes: int = 1) -> None:
        if not 1 <= size <= MAX_BATCH:
            raise ValueError(f"batch size must be 1..{MAX_BATCH}, got {size}")
        if not 1 <= lanes <= MAX_LANES:
            raise ValueError(f"lanes must be 1..{MAX_LANES}, got {lanes}")
        self.engine, self.size = engine, size
        self.lanes = lanes if engine.device.type == "cpu" and per_thread_threads() else 1
        self.share = lane_threads(self.lanes)      # of torch's threads where the filter was made
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._running = 0
        self.passes = 0          # forward passes run, and windows they carried (for bench and tests)
        self.windows = 0

    def predict(self, window: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        """(4, 3, H, W) on [-1, 1] -> (3, H, W) float32 at time t, on the current stream."""
        job = _Job(window, t, mark_ready(window.device))
        with self._cond:
            self._queue.append(job)
            while job.result is None and job.error is None:
                if self._running >= self.lanes:
                    with profile.timed("batch_wait_s"):
                        self._cond.wait()
                    continue
                batch, self._queue = self._queue[:self.size], self._queue[self.size:]
                self._running += 1
                self._cond.release()
                try:
                    with threads(self.share) if self.lanes > 1 else contextlib.nullcontext():
                        self._run(batch)
                finally:
                    self._cond.acquire()
                    self._running -= 1
                    self._cond.notify_all()
        if job.error is not None:   # each thread raises its own copy: one object shared would gather
            raise _copy(job.error)  # every thread's traceback (and keep their tensors alive)
        return use_here(job.result, job.done)

    def _run(self, batch: list[_Job]) -> None:
        try:
            windows = [use_here(j.window, j.ready) for j in batch]
            windows += [windows[-1]] * (self.size - len(batch))
            times = [j.t for j in batch] + [batch[-1].t] * (self.size - len(batch))
            frames = self.engine.predict(torch.stack(windows), torch.tensor(times, dtype=torch.float64))
            done = mark_ready(frames.device)
            for k, j in enumerate(batch):
                j.result, j.done = frames[k], done
            self.passes += 1
            self.windows += len(batch)
            profile.add("passes", 1)
            profile.add("windows", len(batch))
        except BaseException as exc:   # every waiting thread gets the error, not a hang
            for j in batch:
                j.error = exc
