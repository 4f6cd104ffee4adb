"""Datasets from a config, mixed by weight; item i depends only on (seed, i) so resume is exact."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


class MixedDataset(Dataset):
    def __init__(self, datasets: list[Dataset], weights: list[float], seed: int = 0) -> None:
        if not datasets or len(datasets) != len(weights) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("data.sources needs at least one dataset with a positive weight")
        self.datasets = datasets
        self.p = np.asarray(weights, dtype=np.float64) / sum(weights)
        self.seed = seed

    def __len__(self) -> int:
        return 10**9

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, 7919, index])
        k = int(rng.choice(len(self.datasets), p=self.p))
        ds = self.datasets[k]
        return ds[int(rng.integers(len(ds)))]


def build_dataset(data_cfg: dict[str, Any], seed: int) -> Dataset:
    from .synthetic import SyntheticMotion
    from .video_folder import VideoFolder
    from .vimeo import VimeoSeptuplet

    crop = int(data_cfg.get("crop", 96))
    datasets, weights = [], []
    for i, src in enumerate(data_cfg.get("sources") or [{"type": "synthetic"}]):
        src = dict(src)
        kind = src.pop("type", None)
        weight = float(src.pop("weight", 1.0))
        src.setdefault("crop", crop)
        src.setdefault("seed", seed + 1000 * i)
        if kind == "synthetic":
            datasets.append(SyntheticMotion(**src))
        elif kind == "vimeo":
            datasets.append(VimeoSeptuplet(**src))
        elif kind == "video_folder":
            datasets.append(VideoFolder(**src))
        else:
            raise ValueError(f"data.sources[{i}].type must be synthetic, vimeo or video_folder, got {kind!r}")
        weights.append(weight)
    return datasets[0] if len(datasets) == 1 else MixedDataset(datasets, weights, seed)
