"""Datasets from a config, mixed by weight; item i depends only on (seed, i) so resume is exact."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .config import DataConfig, SyntheticSource, VideoFolderSource


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


def build_dataset(data: DataConfig | dict[str, Any], seed: int) -> Dataset:
    """The datasets the config's sources name, mixed by their weights (one source: itself)."""
    from .synthetic import SyntheticMotion
    from .video_folder import VideoFolder
    from .vimeo import VimeoSeptuplet

    if not isinstance(data, DataConfig):
        data = DataConfig.from_dict(data)
    datasets, weights = [], []
    for i, src in enumerate(data.sources):
        kind = SyntheticMotion if isinstance(src, SyntheticSource) else \
            VideoFolder if isinstance(src, VideoFolderSource) else VimeoSeptuplet
        kwargs = {k: getattr(src, k) for k in src.dataset_args}
        crop = data.crop if src.crop is None else (src.crop or None)     # 0: whole frames
        datasets.append(kind(crop=crop, seed=seed + 1000 * i if src.seed is None else src.seed,
                             **kwargs))
        weights.append(src.weight)
    return datasets[0] if len(datasets) == 1 else MixedDataset(datasets, weights, seed)
