"""Moving plane data between VapourSynth frame memory and torch tensors on the compute device.

On the CPU a plane pointer becomes a numpy view over the frame memory and crosses to torch by DLPack: no
copy at all. On CUDA, frame memory is ordinary (pageable) host memory, which the driver can only copy by
staging it through page-locked memory of its own, synchronously. So we stage it ourselves: one host copy
of the plane (rows packed) into a page-locked buffer from torch's caching host allocator, then an
asynchronous copy on the calling thread's stream. Uploads never wait on the host; a frame's planes and its
flags come back together into page-locked memory and the thread waits once (``fetch``), then packs them
into the output frame's rows (``store``). The host allocator keeps each buffer until the copies using it are done.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from . import profile

TORCH_OF = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16,
            np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32}


@dataclass(frozen=True)
class Plane:
    """Where one plane lives in VapourSynth memory."""
    ptr: int
    stride: int  # bytes per row
    height: int
    width: int


def host_view(plane: Plane, dtype: np.dtype) -> np.ndarray:
    """A writable numpy view over a plane (no copy); rows are ``stride`` bytes apart."""
    nbytes = plane.stride * (plane.height - 1) + plane.width * dtype.itemsize
    buf = (ctypes.c_char * nbytes).from_address(plane.ptr)
    flat = np.frombuffer(buf, dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(flat, shape=(plane.height, plane.width * dtype.itemsize),
                                           strides=(plane.stride, 1))
    return rows.view(dtype)


class PlaneIO:
    """Reads planes into tensors on ``device`` and writes a frame's tensors back with one wait."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.waits = 0    # host waits for the device (CUDA): one per output frame written
        self._lock = threading.Lock()

    def read(self, plane: Plane, dtype: np.dtype) -> torch.Tensor:
        """The plane as a (height, width) tensor of ``dtype`` on the device (a view of the frame on CPU:
        valid while the frame is)."""
        view = host_view(plane, dtype)
        if not self.cuda:
            return torch.from_dlpack(view)
        staged = torch.empty(view.shape, dtype=TORCH_OF[dtype], pin_memory=True)
        np.copyto(staged.numpy(), view)
        return staged.to(self.device, non_blocking=True)

    def fetch(self, planes: Sequence[torch.Tensor], dtype: np.dtype, flags: torch.Tensor
              ) -> tuple[list[np.ndarray], list[int]]:
        """A frame's planes as host arrays of ``dtype`` and ``flags`` (a small integer tensor computed with
        the frame) as ints: everything the host needs from the device for this frame, in one wait."""
        wanted = TORCH_OF[dtype]
        if not self.cuda:
            return [p.to(wanted).numpy() for p in planes], flags.tolist()
        staged = []
        for tensor in [*planes, flags]:
            host = torch.empty(tensor.shape, dtype=flags.dtype if tensor is flags else wanted, pin_memory=True)
            host.copy_(tensor.to(host.dtype), non_blocking=True)
            staged.append(host)
        with profile.timed("device_wait_s"):
            torch.cuda.current_stream(self.device).synchronize()    # the one wait of this output frame
        with self._lock:
            self.waits += 1
        return [h.numpy() for h in staged[:-1]], staged[-1].tolist()

    @staticmethod
    def store(arrays: Sequence[np.ndarray], targets: Sequence[Plane], dtype: np.dtype) -> None:
        """Host arrays (or views of other frames) into the planes of an output frame, row by row."""
        for array, plane in zip(arrays, targets):
            np.copyto(host_view(plane, dtype), array)
