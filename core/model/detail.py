"""Detail matching: the made frame gets back the detail its two compensated sources have.

Not in the paper. Two compensated frames averaged, then corrected by a net trained for least error, keep
0.88-0.94 of the true frame's fine detail (the evaluation's sharpness ratio): grain and texture that are a
fraction of a pixel apart in the two average away, and what no method can place exactly a least-error net
leaves out. At 2x every other frame is then softer and the picture pulses. Where the frame has less
detail than its sources (mean |Laplacian| of luma per 16x16 patch, the sharpness measure made local), its
own high frequencies are raised until it has as much (at most doubled); where it has enough, nothing
changes. It costs PSNR, a little (MODEL_CARD.md), and takes no detail from elsewhere: only the frame's own
is amplified, so nothing misplaced is added.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .motion import LUMA, _constant

PATCH = 16          # px: the area whose detail is matched
MAX_GAIN = 1.0      # at most this much of the frame's own high band is added (its detail at most doubled)
LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
BINOMIAL = ((1 / 16, 2 / 16, 1 / 16), (2 / 16, 4 / 16, 2 / 16), (1 / 16, 2 / 16, 1 / 16))   # 3x3 blur


def _filter(x: torch.Tensor, kernel: tuple) -> torch.Tensor:
    """A 3x3 kernel on every channel, edges replicated."""
    c = x.shape[1]
    k = _constant(kernel, x).view(1, 1, 3, 3).expand(c, 1, 3, 3)   # cached on the device (no wait)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=c)


def patch_detail(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H/16, W/16) (rounded up): mean |Laplacian| of luma per patch."""
    y = (x * _constant(LUMA, x).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return F.avg_pool2d(_filter(y, LAPLACIAN).abs(), PATCH, ceil_mode=True)


def match_detail(frame: torch.Tensor, i2: torch.Tensor, i3: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """``frame`` (B, 3, H, W) with ``strength`` of its detail deficit against the mean of ``i2`` and ``i3``
    (the compensated sources, same shape) made up from its own high band. Autocast is turned off: the high
    band is a difference of nearly equal values, which bf16 convolutions would round away."""
    with torch.autocast(frame.device.type, enabled=False):
        return _match_detail(frame, i2, i3, strength)


def _match_detail(frame: torch.Tensor, i2: torch.Tensor, i3: torch.Tensor, strength: float) -> torch.Tensor:
    high = frame - _filter(frame, BINOMIAL)
    have, high_detail = patch_detail(frame), patch_detail(high)
    want = 0.5 * (patch_detail(i2) + patch_detail(i3))
    # |Lap(f + g h)| ~ |Lap f| + g |Lap h|: h, the high band, has the sign of f's own Laplacian. The
    # measures are spread to pixels before dividing: where a flat patch (large gain) meets a detailed one,
    # the detailed one's high band dominates the divisor, so its edge is not raised by its neighbour's gain.
    # (The deficit is spread as one map: bilinear spreading is linear, so that is the spread of each.)
    # The gain is a measurement, held fixed in training (detached): a net trained through it learns what
    # raising its high band does, not to steer the ratio, whose divisor can be tiny.
    deficit, high_detail = _to_pixels(want - have, frame), _to_pixels(high_detail, frame)
    gain = (strength * deficit / high_detail.clamp_min(1e-6)).clamp(0, MAX_GAIN).detach()
    return frame + gain * high


def _to_pixels(patches: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Per-patch measure -> per pixel, bilinear between patch centres. They stay 16 px apart whatever the
    size, so a tile's patches fall where the whole frame's do."""
    pixels = F.interpolate(patches, scale_factor=PATCH, mode="bilinear", align_corners=False)
    return pixels[..., :frame.shape[-2], :frame.shape[-1]]
