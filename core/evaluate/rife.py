"""vs-rife's RIFE 4.25 network (its architecture from the `vsrife` wheel, randomly initialised: timing
only, no weights are downloaded) on the same input, device and precision as our net, the way vs-rife runs
it: each source frame encoded once (Head), then one IFNet forward per new frame."""
from __future__ import annotations

import math
import time
from typing import Any

import torch

MODULO = 64   # vs-rife pads to max(64, 64 / scale) at scale 1


def rife_seconds_per_frame(width: int, height: int, device: torch.device, dtype: torch.dtype,
                           reps: int = 3) -> dict[str, Any]:
    """Net time per interpolated frame (s), or why it could not be measured."""
    try:
        from vsrife.IFNet_HDv3_v4_25 import Head, IFNet
    except ImportError:
        return {"rife_note": "vsrife is not installed (pip install 'vapoursynth-convlstm[compare]')"}
    torch.manual_seed(0)
    flownet = IFNet(scale=1, ensemble=False).to(device, dtype).eval()
    encode = Head().to(device, dtype).eval()
    pw, ph = math.ceil(width / MODULO) * MODULO, math.ceil(height / MODULO) * MODULO
    img0 = torch.rand(1, 3, ph, pw, device=device, dtype=dtype)
    img1 = torch.rand(1, 3, ph, pw, device=device, dtype=dtype)
    timestep = torch.full((1, 1, ph, pw), 0.5, device=device, dtype=dtype)
    flow_div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0], device=device)
    xs = torch.linspace(-1.0, 1.0, pw, device=device).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
    ys = torch.linspace(-1.0, 1.0, ph, device=device).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
    grid = torch.cat([xs, ys], 1)

    def one() -> None:
        f1 = encode(img1)   # the next source frame's features; the previous frame's are reused
        flownet(img0, img1, timestep, flow_div, grid, f0, f1)

    with torch.inference_mode():
        f0 = encode(img0)
        one()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        for _ in range(reps):
            one()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return {"rife_s_per_frame": (time.perf_counter() - t) / reps}
