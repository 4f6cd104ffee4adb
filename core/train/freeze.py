"""Which stages of the net learn: the fusion stage trains over a frozen paper net."""
from __future__ import annotations

from ..model import Net

FREEZABLE = ("synthesis", "refinement")


def frozen_parts(names: list[str], net: Net) -> list[str]:
    """``freeze`` names stages that keep their weights (and BatchNorm statistics) while the rest trains."""
    bad = [n for n in names if n not in FREEZABLE]
    if bad:
        raise ValueError(f"freeze: {bad} unknown; freezable stages are {list(FREEZABLE)}")
    if net.fusion is not None and sorted(names) != sorted(FREEZABLE):
        raise ValueError("model.scales=2 trains only the scale fusion: set freeze: [synthesis, refinement]")
    if net.fusion is None and sorted(names) == sorted(FREEZABLE):
        raise ValueError("freeze leaves nothing to train: the model has no scale fusion (model.scales=1)")
    return list(names)


def set_training(net: Net, frozen: list[str]) -> None:
    """Training mode, except frozen stages: eval mode keeps their BatchNorm statistics fixed."""
    net.train()
    for name in frozen:
        getattr(net, name).eval().requires_grad_(False)
