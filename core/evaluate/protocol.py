"""The evaluation protocol (docs/design.md): feed the even frames, predict the odd ones, score them.

Shared by ``convlstm evaluate`` and the trainer's validation, so both report the same figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..filter.engine import Engine
from ..filter.formats import PixelFormat
from ..filter.scenes import frame_at_cut, predict_within_scene
from ..filter.schedule import clamped_window
from ..options import CUT_MODES, DEFAULT_SC_THRESHOLD
from .metrics import WORST_PERCENT, frame_scores, low_percentile, share_off, sharpness_ratio, vmaf

RGB24 = PixelFormat(name="RGB24", bits=8, is_float=False)


def split_even_odd(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Even frames are the input; odd frames 1, 3, ... that lie between two even frames are the truth."""
    even = frames[0::2]
    odd = frames[1::2][: len(even) - 1]
    return even, odd


def blend(even: np.ndarray) -> np.ndarray:
    """Rounded average of neighbouring even frames: the baseline every model must beat."""
    return frame_at_cut(even[:-1], even[1:], 0.5, "blend")


def predict_with_engine(engine: Engine, even: np.ndarray, sc_threshold: float = DEFAULT_SC_THRESHOLD,
                        sc_mode: str = CUT_MODES[0], indices: Sequence[int] | None = None) -> np.ndarray:
    """Odd frames from the net as the filter makes them, as uint8 RGB: its window schedule (edges
    clamped) and its scene-cut rule (no window across a cut; at one, ``frame_at_cut``'s frame). The frame
    between even frames i and i + 1 for each i of ``indices`` (all, where None)."""
    n = len(even)
    stack = RGB24.to_unit(torch.from_numpy(even).permute(0, 3, 1, 2))
    preds = []
    for i in range(n - 1) if indices is None else indices:
        pred, cuts = predict_within_scene(stack[list(clamped_window(i, n))], 0.5,
                                          lambda w, t: engine.predict(w[None], t)[0], sc_threshold)
        preds.append(frame_at_cut(even[i], even[i + 1], 0.5, sc_mode) if cuts[1]
                     else RGB24.from_unit(pred).permute(1, 2, 0).cpu().numpy())
    return np.stack(preds)


@dataclass
class Scores:
    """Per predicted frame; VMAF only where asked for (it runs ffmpeg: the report, not validation).

    Beside the means, the worst case: ``p5_psnr`` is the 5th percentile of the frames' PSNR (metrics.
    low_percentile: linear between ranks), ``share_off`` the share of all pixels of the clip's predicted
    frames with any RGB channel more than 10 levels (8-bit) from the truth (metrics.share_off; the mean of
    the frames' shares, which all have one size)."""
    psnr: np.ndarray
    ssim: np.ndarray
    sharpness: np.ndarray            # predicted frame's sharpness over the true frame's
    vmaf: np.ndarray | None = None
    off: np.ndarray | None = None    # per frame: share of pixels off by more than OFF_LEVELS

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))

    @property
    def mean_sharpness(self) -> float:
        return float(np.mean(self.sharpness))

    @property
    def mean_vmaf(self) -> float:
        return float(np.mean(self.vmaf)) if self.vmaf is not None else float("nan")

    @property
    def p5_psnr(self) -> float:
        return low_percentile(self.psnr, WORST_PERCENT)

    @property
    def share_off(self) -> float:
        return float(np.mean(self.off)) if self.off is not None else float("nan")


def score(preds: np.ndarray, truth: np.ndarray, with_vmaf: bool = False) -> Scores:
    rows = np.array([(*frame_scores(p, t), sharpness_ratio(p, t), share_off(p, t)) for p, t in zip(preds, truth)])
    return Scores(psnr=rows[:, 0], ssim=rows[:, 1], sharpness=rows[:, 2],
                  vmaf=vmaf(preds, truth) if with_vmaf else None, off=rows[:, 3])
