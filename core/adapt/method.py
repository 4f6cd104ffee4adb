"""convlstm-adapted, a method of `convlstm evaluate`: convlstm after adapting to the clip. It lives with
adaptation, which builds on the evaluation (the evaluation never imports adaptation); the command passes it
to evaluate.report.evaluate as one of its extra_methods."""
from __future__ import annotations

import functools
import logging
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import vapoursynth as vs

from ..evaluate.methods import Prediction, even_clip, run_convlstm
from ..video import frames_of, to_rgb24
from .loop import adapt_frames

log = logging.getLogger("convlstm")

ADAPT_MINUTES = 3.0   # the stated budget of convlstm-adapted (evaluate --adapt-minutes changes it)


def run_convlstm_adapted(source: vs.VideoNode, even_rgb: np.ndarray, weights: str | None = None,
                         device: str = "auto", full_source: vs.VideoNode | None = None,
                         adapt_minutes: float | None = ADAPT_MINUTES, adapt_steps: int | None = None,
                         precision: str | None = None, **_) -> Prediction:
    """convlstm after adapting to the clip the filter gets here: the even frames (of the whole file, where
    there is more of it than is evaluated). The odd frames, the truth, are never read."""
    even = frames_of(to_rgb24(even_clip(full_source if full_source is not None else source)))
    with tempfile.TemporaryDirectory(prefix="convlstm-adapt-") as scratch:
        result = adapt_frames(even, Path(scratch) / "adapted.pt", minutes=adapt_minutes, steps=adapt_steps,
                              device=device, weights=weights, progress=False)
        log.info("convlstm-adapted: held-aside %.2f -> %.2f dB in %d steps (%.1f min)%s", result.base_psnr,
                 result.best_psnr, result.steps, result.seconds / 60, "" if result.adapted else ": not kept")
        return run_convlstm(source, even_rgb, weights=str(result.path) if result.adapted else weights,
                            device=device, precision=precision)


def adapted_methods(minutes: float | None = None) -> dict[str, Callable[..., Prediction]]:
    """What adaptation adds to `convlstm evaluate` (its extra_methods): convlstm-adapted, adapting for
    ``minutes`` per clip (None: ADAPT_MINUTES)."""
    run = run_convlstm_adapted if minutes is None else functools.partial(run_convlstm_adapted, adapt_minutes=minutes)
    return {"convlstm-adapted": run}
