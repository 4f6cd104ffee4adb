"""The one checkpoint format: a torch file holding a dict

    {"format": "vapoursynth-convlstm-checkpoint", "version": 1,
     "model_config": {...ModelConfig...}, "state_dict": {...}, "meta": {...},
     "train_state": {...}   # optional: optimiser, scheduler, step, RNG (resume only)}

The plugin reads model_config + state_dict; the trainer also writes train_state. Shipped weights
carry no train_state so they stay small.
"""
from __future__ import annotations

import hashlib
import pickle
import stat
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig
from .files.atomic import partial_file
from .errors import InterpolateError
from .log import info_once
from .model import Net

FORMAT = "vapoursynth-convlstm-checkpoint"
VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "default.pt"
UNTRAINED = "untrained"   # weights="untrained": the zero-residual net, i.e. frame blending
BUNDLED = {"paper": WEIGHTS_DIR / "paper.pt"}   # weights="paper": the paper's motion-free net (the ablation)


class CheckpointError(ValueError):
    """A weights file that is missing, not ours, or does not match its own config."""


def save_checkpoint(path: str | Path, net: Net, meta: dict[str, Any] | None = None,
                    train_state: dict[str, Any] | None = None) -> None:
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "model_config": net.config.to_dict(),
                            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                            "meta": dict(meta or {})}
    if train_state is not None:
        data["train_state"] = train_state
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with partial_file(path) as f:   # never a half-written checkpoint under the real name
        torch.save(data, f)


def not_a_weights_file(path: Path) -> str | None:
    """Why ``path`` cannot be a weights file, if it cannot (checked before anything opens it)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if path.is_symlink() and exc.errno == 40:   # ELOOP
            return f"weights path {str(path)!r} is a loop of symbolic links"
        return f"weights file {str(path)!r} does not exist" if not path.is_symlink() else \
            f"weights path {str(path)!r} is a symbolic link to nothing"
    if stat.S_ISDIR(mode):
        return f"weights path {str(path)!r} is a folder; pass the checkpoint file in it (e.g. best.pt)"
    if not stat.S_ISREG(mode):
        return f"weights path {str(path)!r} is not a regular file (a pipe, socket or device); pass a checkpoint file"
    return None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    problem = not_a_weights_file(path)
    if problem:
        raise CheckpointError(problem)
    try:
        # no arbitrary pickles; TorchVersion (a str) appears in the meta of early checkpoints
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for garbage input
        if isinstance(exc, pickle.UnpicklingError):   # torch's advice (weights_only=False) would run the file's
            if "GLOBAL" in str(exc):                   # code: it never reaches the user
                raise CheckpointError(f"{str(path)!r} is not a vapoursynth-convlstm checkpoint: it holds Python "
                                      "objects other than tensors and plain data, which this plugin never loads") from None
            raise CheckpointError(f"{str(path)!r} is not a readable checkpoint (not a torch checkpoint file)") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a vapoursynth-convlstm checkpoint (no '{FORMAT}' header); "
                              "train one with `convlstm train` or leave weights unset for the default")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint version {data.get('version')!r}, this build reads "
                              f"{VERSION!r}")
    missing = [k for k in ("model_config", "state_dict") if not isinstance(data.get(k), dict)]
    if missing:
        raise CheckpointError(f"{str(path)!r} is an incomplete checkpoint: no {' and no '.join(missing)} mapping")
    return data


def check_shapes(cfg: ModelConfig, state: Any) -> None:
    """The weights' shapes against the net the config describes, built without memory (the meta device)."""
    if not isinstance(state, dict):
        raise ValueError("state_dict is not a mapping")
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in Net(cfg).state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"weights missing {missing[:3]}, unexpected {unexpected[:3]}")
    for k, shape in expected.items():
        if not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != shape:
            got = tuple(state[k].shape) if isinstance(state[k], torch.Tensor) else type(state[k]).__name__
            raise ValueError(f"weight {k} is {got}, the config needs {shape}")
        needed = state[k].numel() * state[k].element_size()
        if state[k].untyped_storage().nbytes() < needed:   # e.g. one value expanded to a huge shape
            raise ValueError(f"weight {k} holds {state[k].untyped_storage().nbytes()} bytes for a shape of "
                             f"{needed}: not weights a training run wrote")


def load_net(path: str | Path) -> tuple[Net, dict[str, Any]]:
    """Builds the net its checkpoint describes and loads the weights into it."""
    data = read_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(data["model_config"])
        check_shapes(cfg, data["state_dict"])
        net = Net(cfg)
        net.load_state_dict(data["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        msg = " ".join(str(exc).split())[:300] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{str(path)!r} does not match its model config: {msg}") from None
    return net, data.get("meta", {})


def weights_file(weights: str | None) -> Path | None:
    """The file ``weights=`` names: a checkpoint, a bundled model by name ("paper"), else the bundled
    default; None for the zero-residual net (``"untrained"``, or no default bundled)."""
    if weights == UNTRAINED:
        return None
    if weights in BUNDLED:
        if not BUNDLED[weights].is_file():
            raise InterpolateError(f"weights={weights!r}: this build bundles no such model ({BUNDLED[weights]})")
        return BUNDLED[weights]
    if weights:
        return Path(weights).expanduser()
    return DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.is_file() else None


def file_sha256(path: str | Path) -> str:
    """A file's SHA-256, read in blocks (weights, sources and pieces are recorded by it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def load_weights(weights: str | None) -> tuple[Net, str]:
    """What ``weights=`` names (``weights_file``), loaded; the zero-residual net (= blending) when it names
    none. Returns the net and its name."""
    path = weights_file(weights)
    if path is None:
        if weights != UNTRAINED:
            info_once("no trained default weights are bundled: using the zero-residual net, which equals frame blending")
        return Net(), UNTRAINED
    name = weights if weights else "default"
    try:
        net, _ = load_net(path)
    except CheckpointError as exc:
        raise InterpolateError(str(exc)) from None
    return net, name
