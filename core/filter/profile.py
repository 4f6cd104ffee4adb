"""Where a made frame's time goes on the host, summed over every stage and thread of this process.

Read by `convlstm bench` (its host-side time per frame); costs one clock read per step otherwise.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_totals: dict[str, float] = defaultdict(float)


def add(key: str, value: float) -> None:
    with _lock:
        _totals[key] += value


@contextmanager
def timed(key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        add(key, time.perf_counter() - start)


def snapshot(reset: bool = False) -> dict[str, float]:
    """made_frames, process_s (inside process()), device_wait_s (waiting for results on the device),
    batch_wait_s (waiting for another thread's forward pass), passes and windows (forward passes run),
    still_frames (made frames whose window was one picture four times: copied, the net not run)."""
    with _lock:
        out = dict(_totals)
        if reset:
            _totals.clear()
    return out
