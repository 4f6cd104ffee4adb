"""PSNR on 8-bit RGB and SSIM on luma (Gaussian window 11, sigma 1.5), the evaluation protocol (docs/design.md).

SSIM follows Wang et al. 2004 with the conventions of scikit-image's structural_similarity
(gaussian_weights=True, sample covariance, symmetric borders, 5-pixel border excluded from the mean),
so figures are comparable with that reference implementation.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LUMA_601 = np.array([0.299, 0.587, 0.114])


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
