"""What the evaluation measures on predicted vs true frames (docs/design.md, evaluation protocol).

PSNR on 8-bit RGB, SSIM on luma (Gaussian window 11, sigma 1.5), VMAF (the libvmaf filter of the ffmpeg
binary with its built-in model) and a sharpness ratio: PSNR rewards a soft guess between two sharp frames,
VMAF and sharpness show it. Means hide the frames that fail, so two worst-case figures stand beside them:
the 5th-percentile frame PSNR (``low_percentile``) and the share of pixels off by more than 10 levels
(``share_off``). SSIM follows Wang et al. 2004 with the conventions of scikit-image's structural_similarity
(gaussian_weights=True, sample covariance, symmetric borders, 5-pixel border excluded from the mean),
so figures are comparable with that reference implementation.
"""
from __future__ import annotations

import json
import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model.detail import LAPLACIAN as DETAIL_LAPLACIAN
from ..model.motion import LUMA

LUMA_601 = np.array(LUMA)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB; identical images give +inf."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) RGB image, same scale as the input."""
    return rgb.astype(np.float64) @ LUMA_601


def _gaussian_kernel(sigma: float = 1.5, truncate: float = 3.5) -> np.ndarray:
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, sigma: float = 1.5) -> float:
    """Mean SSIM of two single-channel images (use ``luma`` for RGB)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"ssim needs two 2-D images of one shape, got {a.shape} and {b.shape}")
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    win = torch.from_numpy(k)
    kx, ky = win.view(1, 1, 1, -1), win.view(1, 1, -1, 1)

    def blur(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.pad(x, r, mode="symmetric"))[None, None]
        return F.conv2d(F.conv2d(t, kx), ky)[0, 0]

    x, y = a.astype(np.float64), b.astype(np.float64)
    n = len(k) ** 2
    cov_norm = n / (n - 1)
    ux, uy = blur(x), blur(y)
    vx = cov_norm * (blur(x * x) - ux * ux)
    vy = cov_norm * (blur(y * y) - uy * uy)
    vxy = cov_norm * (blur(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s[r:-r, r:-r].mean()) if min(s.shape) > 2 * r else float(s.mean())


def frame_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(PSNR on RGB, SSIM on BT.601 luma) of two (H, W, 3) uint8 frames."""
    return psnr(pred, truth), ssim(luma(pred), luma(truth))


OFF_LEVELS = 10   # a pixel is "off" when a channel misses the truth by more than this many 8-bit levels
WORST_PERCENT = 5  # the worst-case frame PSNR is this percentile of a clip's per-frame PSNRs


def share_off(pred: np.ndarray, truth: np.ndarray, levels: int = OFF_LEVELS) -> float:
    """The share (0 to 1) of pixels of an (H, W, 3) 8-bit RGB frame whose R, G or B value differs from the
    truth's by more than ``levels`` (strictly: 11 levels off counts at the default 10, 10 does not).
    A pixel counts once however many of its channels are off; the share is of H x W pixels. Values of
    other bit depths or floats are compared as they are, so give 8-bit frames (the protocol's)."""
    if pred.shape != truth.shape or pred.ndim != 3:
        raise ValueError(f"share_off needs two (H, W, C) frames of one shape, got {pred.shape} and {truth.shape}")
    off = np.abs(pred.astype(np.float64) - truth.astype(np.float64)) > levels     # no uint8 wrap-around
    return float(off.any(-1).mean())


def low_percentile(values: np.ndarray, percent: float = WORST_PERCENT) -> float:
    """The ``percent``-th percentile of per-frame figures, as numpy's default (linear) method: rank
    (n - 1) * percent / 100 counted from the lowest, between two ranks linearly (of 29 frames, the 5th
    percentile lies 0.4 of the way from the 2nd lowest to the 3rd lowest). Written out so that an
    identical frame's +inf PSNR is handled: it stays +inf between ranks and never makes a NaN."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if v.size == 0:
        return float("nan")
    rank = (v.size - 1) * percent / 100
    lo = int(math.floor(rank))
    hi = min(lo + 1, v.size - 1)
    frac = rank - lo
    if frac == 0 or v[hi] == v[lo]:
        return float(v[lo])
    return float(v[lo] + (v[hi] - v[lo]) * frac)


LAPLACIAN = torch.tensor(DETAIL_LAPLACIAN, dtype=torch.float64)   # the detail matching's measure, whole-frame


def sharpness(rgb: np.ndarray) -> float:
    """Mean absolute Laplacian of an (H, W, 3) image's BT.601 luma: its high-frequency energy."""
    y = torch.from_numpy(luma(rgb))[None, None]
    return float(F.conv2d(y, LAPLACIAN.view(1, 1, 3, 3)).abs().mean()) if min(y.shape[-2:]) > 2 else 0.0


def sharpness_ratio(pred: np.ndarray, truth: np.ndarray) -> float:
    """Sharpness of the predicted frame over the true frame's: below 1 is blur, above 1 noise or ringing."""
    t = sharpness(truth)
    return sharpness(pred) / t if t > 0 else 1.0


def vmaf(preds: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame VMAF of (N, H, W, 3) uint8 predictions against the truth, through the ffmpeg binary."""
    from ..video import ffmpeg_exe
    n, h, w, _ = preds.shape
    with tempfile.TemporaryDirectory(prefix="convlstm-vmaf-") as tmp:
        dist, ref, log = Path(tmp) / "dist.rgb", Path(tmp) / "ref.rgb", Path(tmp) / "vmaf.json"
        dist.write_bytes(np.ascontiguousarray(preds).tobytes())
        ref.write_bytes(np.ascontiguousarray(truth).tobytes())
        raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "25"]
        graph = f"[0:v]format=yuv444p[d];[1:v]format=yuv444p[r];[d][r]libvmaf=log_fmt=json:log_path={log}"
        proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", *raw, "-i", str(dist), *raw, "-i", str(ref),
                               "-lavfi", graph, "-f", "null", "-"], capture_output=True, text=True)
        if proc.returncode != 0 or not log.is_file():
            raise RuntimeError(f"VMAF failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'no log'}")
        frames = json.loads(log.read_text())["frames"]
    if len(frames) != n:
        raise RuntimeError(f"VMAF scored {len(frames)} frames, expected {n}")
    return np.array([f["metrics"]["vmaf"] for f in frames])
