"""The data section of a training config: the crop and the sources to mix, one typed class per kind."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import check_types, strict_keys


@dataclass
class SyntheticSource:
    """Moving photographs with camera and codec degradations (data/synthetic.py)."""
    type: str = "synthetic"
    weight: float = 1.0
    max_motion: float = 12.0
    max_objects: int = 3
    codec_probability: float = 0.5
    degrade_frames: bool = True
    off_half: float = 0.0          # share of targets at other times than halfway (any t in [1/8, 7/8])
    length: int = 10**9
    crop: int | None = None        # None: data.crop; 0: whole frames
    seed: int | None = None        # None: the run's seed + 1000 * the source's index

    dataset_args: ClassVar = ("max_motion", "max_objects", "codec_probability", "degrade_frames", "off_half",
                              "length")


@dataclass
class VideoFolderSource:
    """Any folder of video files (data/video_folder.py)."""
    root: str = ""                 # required
    type: str = "video_folder"
    weight: float = 1.0
    strides: list[int] = field(default_factory=lambda: [1])
    min_scale: float = 1.0
    exclude: list[str] = field(default_factory=list)
    sc_threshold: float = 0.12
    augment: bool = True
    off_half: float = 0.0          # share of strided windows whose target is another frame than the middle
    length: int = 10**9
    crop: int | None = None
    seed: int | None = None

    dataset_args: ClassVar = ("root", "strides", "min_scale", "exclude", "sc_threshold", "augment", "off_half",
                              "length")


@dataclass
class VimeoSource:
    """Vimeo-90K septuplets, for users who have them (data/vimeo.py)."""
    root: str = ""                 # required
    type: str = "vimeo"
    weight: float = 1.0
    split: str = "train"
    augment: bool = True
    crop: int | None = None
    seed: int | None = None

    dataset_args: ClassVar = ("root", "split", "augment")


SOURCES: dict[str, type] = {"synthetic": SyntheticSource, "video_folder": VideoFolderSource, "vimeo": VimeoSource}
Source = SyntheticSource | VideoFolderSource | VimeoSource


@dataclass
class DataConfig:
    crop: int = 96
    sources: list[Source] = field(default_factory=lambda: [SyntheticSource()])

    @classmethod
    def from_dict(cls, data: Any, where: str = "data.") -> "DataConfig":
        d = strict_keys(cls, data, where)
        sources = []
        for i, src in enumerate(d.get("sources") or [{"type": "synthetic"}]):
            at = f"{where}sources[{i}]."
            kind = src.get("type") if isinstance(src, dict) else None
            if kind not in SOURCES:
                raise ValueError(f"{at}type must be synthetic, vimeo or video_folder, got {kind!r}")
            source = SOURCES[kind](**strict_keys(SOURCES[kind], src, at))
            if hasattr(source, "root") and not source.root:
                raise ValueError(f"{at}root is required: the folder of the {kind} source")
            check_types(source, at)
            sources.append(source)
        out = cls(crop=d.get("crop", cls.crop), sources=sources)
        check_types(out, where)
        return out
