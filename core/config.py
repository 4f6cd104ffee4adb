"""Model configuration (the choices the paper leaves open, kept in YAML next to the weights) and the
rules every config section shares: unknown keys and wrongly typed values are errors naming the key."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


MAX_LEVELS, MAX_WIDTH, MAX_KERNEL, MAX_BLOCKS = 8, 1024, 9, 64   # far beyond any sane net, far below a blow-up
MOTION_MODELS = {"none": "the paper's net: the frames as they are",
                 "block": "block-matching motion compensation before the net"}


@dataclass(frozen=True)
class ModelConfig:
    """Widths and depths of the synthesis U-Net and the attention refinement network.

    ``channels`` has one entry per U-Net level: each level runs a ConvLSTM with that many
    hidden channels and halves the resolution, so inputs are padded to a multiple of
    ``2 ** len(channels)``. ``scales=2`` adds a half-resolution pass and a learned per-pixel fusion
    (``fusion_channels`` wide) for motion larger than the net handles at full size; inputs are then padded
    to twice that multiple. ``motion="block"`` brings the four frames to the target time along vectors
    found by block matching (model/motion.py) before the paper's net sees them, so the net corrects a
    motion-compensated estimate instead of the plain average; ``"none"`` is the paper's net as published.
    ``blend_mask`` lets the synthesis net weight I2 and I3 per pixel in its base (model/synthesis.py).
    ``detail`` (0 to 1) makes up that share of the frame's detail deficit against its two compensated
    sources (model/detail.py): at 1 the new frames are as sharp as the source frames.
    ``safety`` (0 to 1) is how far a made frame falls back toward the compensated pair's blend where the
    motion is not trusted (model/safety.py; inference only, and only with motion compensation).
    """

    channels: tuple[int, ...] = (8, 16, 32, 64, 96)
    kernel_size: int = 3
    refine_channels: int = 16
    attention_blocks: int = 2
    reduction: int = 4
    scales: int = 1
    fusion_channels: int = 24
    motion: str = "none"
    blend_mask: bool = False
    detail: float = 0.0
    safety: float = 0.0

    def __post_init__(self) -> None:
        check_types(self, "model.")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or any(c < 1 for c in self.channels):
            raise ValueError(f"model.channels must be a non-empty list of positive ints, got {self.channels}")
        # bounds first: a few bytes of config must not cost gigabytes before the weights are even compared
        for name, value, top in (("channels (levels)", len(self.channels), MAX_LEVELS),
                                 ("channels (width)", max(self.channels), MAX_WIDTH),
                                 ("kernel_size", self.kernel_size, MAX_KERNEL),
                                 ("refine_channels", self.refine_channels, MAX_WIDTH),
                                 ("attention_blocks", self.attention_blocks, MAX_BLOCKS),
                                 ("fusion_channels", self.fusion_channels, MAX_WIDTH)):
            if value > top:
                raise ValueError(f"model.{name} is {value}, above the largest this build accepts ({top})")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"model.kernel_size must be odd and positive, got {self.kernel_size}")
        if self.refine_channels < 1 or self.attention_blocks < 0:
            raise ValueError("model.refine_channels must be >= 1 and model.attention_blocks >= 0")
        if self.reduction < 1 or self.refine_channels // self.reduction < 1:
            raise ValueError(
                f"model.reduction must be in [1, refine_channels], got {self.reduction} for {self.refine_channels}"
            )

        if self.scales not in (1, 2):
            raise ValueError(f"model.scales must be 1 (the paper's single pass) or 2 (plus a half-size pass), "
                             f"got {self.scales}")
        if self.fusion_channels < 1:
            raise ValueError(f"model.fusion_channels must be positive, got {self.fusion_channels}")
        if self.motion not in MOTION_MODELS:
            raise ValueError(f"model.motion must be one of {', '.join(MOTION_MODELS)}, got {self.motion!r}")
        if not 0.0 <= self.detail <= 1.0:
            raise ValueError(f"model.detail must be between 0 (off) and 1 (as sharp as the sources), got {self.detail}")
        if not 0.0 <= self.safety <= 1.0:
            raise ValueError(f"model.safety must be between 0 (off) and 1 (full fallback), got {self.safety}")
        if self.detail and self.motion == "none":
            raise ValueError("model.detail matches the compensated sources' detail: it needs model.motion")
        if self.motion != "none" and self.scales != 1:
            raise ValueError("model.motion compensates large motion itself: use it with scales: 1")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return cls(**strict_keys(cls, d, "model."))


def strict_keys(cls: type, data: Any, where: str) -> dict[str, Any]:
    """The keys of ``data`` that ``cls`` declares; anything else is an error naming where it is."""
    if not isinstance(data, dict):
        raise ValueError(f"config {where or 'top level'} must be a mapping, got {type(data).__name__}")
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(f'{where}{k}' for k in unknown)}; "
                         f"known at {where or 'the top level'}: {', '.join(known)}")
    return dict(data)


def check_types(obj: Any, where: str) -> None:
    """Each field of a config dataclass holds its declared type (an int also serves as a float; lists and
    tuples are checked as such, not per item): YAML's `batch_size: "8"` is an error naming the key."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints[f.name]
        allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        plain = [typing.get_origin(a) or a for a in allowed]
        if not any(_is(value, a) for a in plain if isinstance(a, type)):
            names = " or ".join(getattr(a, "__name__", str(a)) for a in plain)
            raise ValueError(f"config {where}{f.name} must be {names}, got {value!r}")


def _is(value: Any, kind: type) -> bool:
    if kind is type(None):
        return value is None
    if kind in (int, float):
        return isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if kind in (list, tuple):
        return isinstance(value, (list, tuple))
    return isinstance(value, kind)


def load_yaml(path: str | Path) -> dict[str, Any]:
    with open(path, "r", encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level of a config must be a mapping")
    return data


CONFIG_DIR = Path(__file__).resolve().parent / "configs"
