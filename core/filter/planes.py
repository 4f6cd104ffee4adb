"""Moving plane data between VapourSynth frame memory and torch, through numpy (CPU) or CuPy (CUDA).

One code path: a plane pointer becomes an ``xp`` array (a numpy view over the frame memory on CPU,
a CuPy array filled by one strided 2-D host->device copy on CUDA), and crosses to torch by DLPack,
so the only copies are the unavoidable host<->device transfers.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
import torch


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
    """Reads planes into torch tensors on ``device`` and writes tensors back into planes."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        if self.cuda:
            import cupy
            self.xp = cupy
            with cupy.cuda.Device(device.index or 0):
                self.stream = cupy.cuda.Stream(non_blocking=True)
        else:
            self.xp = np

    def read(self, plane: Plane, dtype: np.dtype) -> torch.Tensor:
        arr = self._to_xp(plane, dtype)
        return torch.from_dlpack(arr)

    def write(self, tensor: torch.Tensor, plane: Plane, dtype: np.dtype) -> None:
        arr = self.xp.from_dlpack(tensor.contiguous())
        if arr.dtype != dtype:
            arr = arr.astype(dtype)
        self._from_xp(arr, plane)

    # --- the only device-specific part: how frame memory is reached ---------------------------------
    def _to_xp(self, plane: Plane, dtype: np.dtype):
        if not self.cuda:
            return host_view(plane, dtype)
        import cupy
        row = plane.width * dtype.itemsize
        with cupy.cuda.Device(self.device.index or 0):
            out = cupy.empty((plane.height, plane.width), dtype=dtype)
            cupy.cuda.runtime.memcpy2DAsync(out.data.ptr, row, plane.ptr, plane.stride, row, plane.height,
                                            cupy.cuda.runtime.memcpyHostToDevice, self.stream.ptr)
            self.stream.synchronize()
        return out

    def _from_xp(self, arr, plane: Plane) -> None:
        if not self.cuda:
            np.copyto(host_view(plane, arr.dtype), arr)
            return
        import cupy
        arr = cupy.ascontiguousarray(arr)
        row = plane.width * arr.dtype.itemsize
        with cupy.cuda.Device(self.device.index or 0):
            torch.cuda.current_stream(self.device).synchronize()  # the net's result must be complete
            cupy.cuda.runtime.memcpy2DAsync(plane.ptr, plane.stride, arr.data.ptr, row, row, plane.height,
                                            cupy.cuda.runtime.memcpyDeviceToHost, self.stream.ptr)
            self.stream.synchronize()
