"""Any folder of video files: 7-frame windows sampled across each file, never across a scene cut."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..scenes import is_cut
from .windows import random_crop, split_window

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".y4m", ".ts", ".mpg", ".mpeg"}


class VideoFolder(Dataset):
    """Decodes through VapourSynth (bestsource) to RGB24; item i is a window chosen by (seed, i)."""

    def __init__(self, root: str | Path, crop: int | None = 128, seed: int = 0, sc_threshold: float = 0.12,
                 length: int = 10**9, augment: bool = True, exclude: tuple[str, ...] = ()) -> None:
        from ..evaluate.clips import open_clip, to_rgb24
        self.root = Path(root)
        files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES
                       and p.name not in exclude)
        if not files:
            raise FileNotFoundError(f"no video files under {self.root}")
        self.clips = [to_rgb24(open_clip(p)) for p in files]
        self.clips = [c for c in self.clips if c.num_frames >= 7]
        if not self.clips:
            raise ValueError(f"no video under {self.root} has 7 or more frames")
        self.files = files
        self.crop, self.seed, self.sc_threshold, self.length, self.augment = crop, seed, sc_threshold, length, augment

    def __len__(self) -> int:
        return self.length

    def window(self, clip_index: int, start: int) -> torch.Tensor:
        """7 frames as (7, 3, H, W) on [0, 1]."""
        clip = self.clips[clip_index]
        out = []
        for k in range(7):
            f = clip.get_frame(start + k)
            out.append(np.stack([np.asarray(f[p]) for p in range(3)]))
        return torch.from_numpy(np.stack(out)).float() / 255.0

    def crosses_cut(self, frames: torch.Tensor) -> bool:
        return any(is_cut(frames[k], frames[k + 1], self.sc_threshold) for k in range(len(frames) - 1))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        for _ in range(20):
            c = int(rng.integers(len(self.clips)))
            start = int(rng.integers(0, self.clips[c].num_frames - 6))
            frames = self.window(c, start)
            if not self.crosses_cut(frames):
                break
        else:
            raise RuntimeError(f"no cut-free 7-frame window found in 20 tries under {self.root}")
        if self.crop:
            frames = random_crop(frames, self.crop, rng)
        return split_window(frames, rng, self.augment)
