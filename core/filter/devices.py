"""Device choice for the filter and the trainer: 'auto' may fall back to CPU (said once); asking for
CUDA without it is an error. torch's CUDA build is all either needs (frames reach the device through
page-locked staging and torch's own copies: filter/planes.py)."""
from __future__ import annotations

import torch

from ..errors import InterpolateError
from ..log import info_once
from ..options import parse_device


def cuda_usable() -> bool:
    return torch.cuda.is_available()


def resolve_device(spec: str | None) -> torch.device:
    """'auto', 'cpu', 'cuda' or 'cuda:N' -> a device that exists here."""
    kind, index = parse_device(spec)
    if kind == "auto":
        if cuda_usable():
            info_once(f"device=auto: using CUDA ({torch.cuda.get_device_name(0)})")
            return torch.device("cuda", 0)
        info_once("device=auto: no usable CUDA GPU (torch.cuda), running on CPU")
        return torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if not cuda_usable():
        raise InterpolateError(f"device {spec!r} was requested but no usable CUDA GPU is available "
                               "(torch.cuda must work); use device='cpu' or 'auto'")
    count = torch.cuda.device_count()
    if index >= count:
        raise InterpolateError(f"device {spec!r} does not exist: this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)
