"""The contract between plugin/convlstm.c and the Python core, in one place.

C and Python are built and shipped together, but a stale plugin beside a newer package (or the reverse)
must fail with a sentence, not misread a tuple. The plugin sends its CONTRACT with every Interpolate
call and the bridge refuses another; everything else C relies on is listed here and checked on the
stages before C reads them. The C side mirrors these lines (see the comments naming this module there).
"""
from __future__ import annotations

from typing import Any

from ..errors import InterpolateError

CONTRACT = 4    # raise on any change below (and in plugin/convlstm.c, CONVLSTM_CONTRACT)

# plan() returns 1 frame (pass it through), 4 (the net's window; the output takes frame 1's props) or 5 (the
# window, and the frame whose props the output takes). Stages with ``probes`` (contract 4): before plan(), C
# requests the frames probe() names and hands them to analyse(), until probe() names none, and sets
# ConvLSTMRepeat from repeat_mark() where it is not -1
MAX_PLAN = 5
MAX_PROBE_ROUNDS = 3

# C calls process() from several threads at once (fmParallel, since contract 3): stages must be thread-safe

# what C passes per window frame: one tuple of ints in this order, -1 where the prop is unset
PROP_FIELDS = ("scene_flags", "_Matrix", "_Range", "_ChromaLocation", "_FieldBased")
NO_PROPS = (0, -1, -1, -1, -1)
FLAGS, MATRIX, RANGE, CHROMA_LOCATION, FIELD_BASED = range(len(PROP_FIELDS))
SCENE_PREV, SCENE_NEXT = 1, 2            # bits of scene_flags: _SceneChangePrev, _SceneChangeNext set upstream

# what process() returns: bits C turns into props on the output frame
CUT_BEFORE_OUTPUT = 1                    # -> _SceneChangeNext: the output sits just before a scene cut
CUT_AFTER_OUTPUT = 2                     # -> _SceneChangePrev: the output is the first after a cut

# integer attributes C reads from every stage (stage_video_info)
STAGE_FACTS = ("num_frames", "fps_num", "fps_den", "duration_divisor", "clears_next", "probes")


def check_plugin(info: dict[str, Any]) -> None:
    """The plugin that called speaks this contract."""
    theirs = info.get("contract")
    if theirs != CONTRACT:
        raise InterpolateError(f"the native plugin (contract {theirs}) and the Python package (contract {CONTRACT}) "
                               "come from different versions; reinstall vapoursynth-convlstm (pip install "
                               "--force-reinstall) so both are the same")


def check_stage(stage: Any) -> None:
    """Every fact C reads is an int in range (a bug here must not become a garbage clip length)."""
    for name in STAGE_FACTS:
        value = getattr(stage, name, None)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InterpolateError(f"internal error: stage {type(stage).__name__}.{name} is {value!r}, not an int")
    if not 1 <= stage.num_frames < 2 ** 31 or stage.fps_num < 0 or stage.fps_den < 0 or stage.duration_divisor < 1 \
            or stage.clears_next not in (0, 1) or stage.probes not in (0, 1):
        raise InterpolateError(f"internal error: stage {type(stage).__name__} has facts out of range: "
                               + ", ".join(f"{n}={getattr(stage, n)}" for n in STAGE_FACTS))
