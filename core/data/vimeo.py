"""Vimeo-90K septuplets (for users who have the data): im1, im3, im5, im7 -> im4."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .windows import random_crop, split_window


class VimeoSeptuplet(Dataset):
    """``root`` holds sequences/<a>/<b>/im1..im7.png and sep_trainlist.txt / sep_testlist.txt."""

    def __init__(self, root: str | Path, split: str = "train", crop: int | None = 256, seed: int = 0,
                 augment: bool = True) -> None:
        self.root = Path(root)
        listing = self.root / ("sep_trainlist.txt" if split == "train" else "sep_testlist.txt")
        if not listing.is_file():
            raise FileNotFoundError(f"{listing} not found: is {self.root} a Vimeo-90K septuplet folder?")
        self.items = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if not self.items:
            raise ValueError(f"{listing} lists no sequences")
        self.crop, self.seed, self.augment = crop, seed, augment

    def __len__(self) -> int:
        return len(self.items)

    def frames(self, index: int) -> torch.Tensor:
        folder = self.root / "sequences" / self.items[index]
        imgs = [np.asarray(Image.open(folder / f"im{k}.png").convert("RGB")) for k in range(1, 8)]
        return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255.0

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        frames = self.frames(index % len(self.items))
        if self.crop:
            frames = random_crop(frames, self.crop, rng)
        return split_window(frames, rng, self.augment)
