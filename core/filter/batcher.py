"""Windows requested together run as one forward pass of a fixed size.

Each thread serving an output frame hands its window in and gets its frame back. Whoever finds the net
idle runs every window waiting (up to ``size``) at once; the others wait for their result, and meanwhile
new windows queue for the next pass. No thread waits for company: a lone request runs at once, so
batching adds no latency, only throughput where frames are requested together.

Every pass has exactly ``size`` windows (the rest are copies of the last one): a convolution's sums may
be ordered differently at another batch size, and an output frame must not change by one bit with the
batch it happens to land in, its position there, its companions or the number of threads.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Optional

import torch

from ..options import MAX_BATCH
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


class Batcher:
    """Serves ``predict`` for any number of threads with forward passes of ``size`` windows."""

    def __init__(self, engine: Engine, size: int = 1) -> None:
        if not 1 <= size <= MAX_BATCH:
            raise ValueError(f"batch size must be 1..{MAX_BATCH}, got {size}")
        self.engine, self.size = engine, size
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._running = False
        self.passes = 0          # forward passes run, and windows they carried (for bench and tests)
        self.windows = 0

    def predict(self, window: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        """(4, 3, H, W) on [-1, 1] -> (3, H, W) float32 at time t, on the current stream."""
        job = _Job(window, t, mark_ready(window.device))
        with self._cond:
            self._queue.append(job)
            while job.result is None and job.error is None:
                if self._running:
                    with profile.timed("batch_wait_s"):
                        self._cond.wait()
                    continue
                batch, self._queue = self._queue[:self.size], self._queue[self.size:]
                self._running = True
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._running = False
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
