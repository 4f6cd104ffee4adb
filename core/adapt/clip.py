"""From a clip (or a file) to the frames adaptation trains on, and where the adapted weights go."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import vapoursynth as vs

from ..video import frames_of, open_source, to_rgb24
from ..cache import cache_root
from ..checkpoint import file_sha256
from .loop import AdaptResult, adapt_frames

MAX_FRAMES = 240   # frames kept in memory for training (1080p RGB: about 1.5 GB); longer clips give runs
RUN = 48           # of this many consecutive frames, spread evenly over the clip


def frame_indices(num_frames: int, max_frames: int = MAX_FRAMES, run: int = RUN) -> list[int]:
    """All frames, or evenly spread runs of consecutive ones (windows need consecutive frames)."""
    if num_frames <= max_frames:
        return list(range(num_frames))
    runs = max_frames // run
    starts = [round(k * (num_frames - run) / max(1, runs - 1)) for k in range(runs)]
    return [s + i for s in starts for i in range(run)]


def clip_frames(clip: vs.VideoNode) -> tuple[np.ndarray, list[int]]:
    """(N, H, W, 3) uint8 RGB of the frames adaptation uses, converted as the evaluation converts."""
    indices = frame_indices(clip.num_frames)
    rgb = to_rgb24(clip)
    picked = rgb if len(indices) == clip.num_frames else vs.core.std.Splice([rgb[i] for i in indices])
    return frames_of(picked), indices


def cache_dir() -> Path:
    """Where adapted weights go unless told otherwise: never the input's folder."""
    return cache_root() / "adapted"


def adapt_clip(clip: vs.VideoNode, *, minutes: float | None = 3.0, steps: int | None = None,
               device: str = "auto", weights: str | None = None, out: str | Path | None = None,
               progress: bool = True, source: dict[str, Any] | None = None) -> AdaptResult:
    frames, indices = clip_frames(clip)
    digest = (source or {}).get("sha256") or hashlib.sha256(frames.tobytes()).hexdigest()
    name = Path((source or {}).get("file", "clip")).stem
    target = Path(out) if out is not None else cache_dir() / f"{name}-{digest[:12]}.pt"
    info = {**(source or {}), "sha256": digest, "frames_used": len(indices),
            "frame_ranges": _ranges(indices)}
    return adapt_frames(frames, target, minutes=minutes, steps=steps, device=device, weights=weights,
                        source=info, progress=progress)


def adapt_file(path: str | Path, **kwargs: Any) -> AdaptResult:
    path = Path(path)
    return adapt_clip(open_source(path), source={"file": path.name, "sha256": file_sha256(path)}, **kwargs)


def _ranges(indices: list[int]) -> list[list[int]]:
    """[first, last] of each run of consecutive indices."""
    out: list[list[int]] = []
    for i in indices:
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out
