"""Ordering work between the threads that serve frames at once, on CUDA streams (no-ops on the CPU).

With ``fmParallel`` several VapourSynth threads fill output frames together. On CUDA each thread works on
a stream of its own (its "slot"), so one frame's upload, another's net and a third's download overlap, and
a thread waits on the host only once per output frame (``PlaneIO.fetch``). What crosses from one
stream to another (a decoded source frame shared through the cache, a window handed to the batched
forward, its result handed back) carries an event the receiving stream waits on, on the device, and is
marked as used there so the caching allocator does not hand its memory out early. On the CPU every
operation is synchronous, so the same calls do nothing and both devices share one code path.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Optional

import torch


class Slots:
    """One CUDA stream per serving thread, created on first use and kept for the filter's life.

    Keyed by the native thread's id, not by ``threading.local``: VapourSynth's worker threads enter Python
    through PyGILState_Ensure, which makes a fresh thread state for every call, so a thread-local would
    be empty each time (and every frame would draw a new stream from torch's small shared pool)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self._streams: dict[int, "torch.cuda.Stream"] = {}
        self._lock = threading.Lock()

    def stream(self) -> Optional["torch.cuda.Stream"]:
        if not self.cuda:
            return None
        me = threading.get_ident()
        with self._lock:
            s = self._streams.get(me)
            if s is None:
                s = self._streams[me] = torch.cuda.Stream(self.device)
        return s

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Work issued inside runs on this thread's stream."""
        if not self.cuda:
            yield
            return
        with torch.cuda.stream(self.stream()):
            yield


def mark_ready(device: torch.device) -> Optional["torch.cuda.Event"]:
    """An event after everything issued so far on the current stream (None on the CPU)."""
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event


def use_here(tensor: torch.Tensor, ready: Optional["torch.cuda.Event"]) -> torch.Tensor:
    """Lets the current stream use a tensor made on another: wait (on the device) until it is ready, and
    keep its memory from reuse until this stream's work on it is done."""
    if tensor.device.type == "cuda":
        stream = torch.cuda.current_stream(tensor.device)
        if ready is not None:
            stream.wait_event(ready)
        tensor.record_stream(stream)
    return tensor
