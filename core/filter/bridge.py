"""The only module the C filter calls (plugin/convlstm.c imports convlstm.filter.bridge).

``build`` plans the chain of stages for one Interpolate call; ``plan`` says which source frames an output
needs and ``process`` fills it. A stage with ``probes`` (``dedup``) first has C hand it the frames ``probe``
names, through ``analyse``, before ``plan``; ``repeat_mark`` gives its ConvLSTMRepeat prop.
Errors leave here as InterpolateError with a readable message, never as a bare exception.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
from typing import Any

from ..errors import InterpolateError

# what the compute core needs, and how to get it, checked before importing it: a host whose Python lacks
# one gets a sentence naming that Python, not "No module named 'torch'"
NEEDED = {"torch": "pip install torch  (CPU only: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
          "numpy": "pip install numpy"}
for _module, _install in NEEDED.items():
    if importlib.util.find_spec(_module) is None:
        raise InterpolateError(f"{_module} is not installed in the Python that VapourSynth runs ({sys.executable}); "
                               f"install it there: {_install}")

from .contract import check_plugin, check_stage  # noqa: E402
from .stages import Stage, build as build_stages  # noqa: E402

log = logging.getLogger("convlstm")


def build(info: dict[str, Any], args: dict[str, Any]) -> list[Stage]:
    check_plugin(info)
    try:
        stages = build_stages(info, args)
        for stage in stages:
            check_stage(stage)
        return stages
    except InterpolateError:
        raise
    except Exception as exc:
        log.debug("Interpolate creation failed", exc_info=True)
        raise InterpolateError(f"could not set up the filter: {type(exc).__name__}: {exc}") from exc


def plan(stage: Stage, n: int) -> tuple[int, ...]:
    """The source frames output frame n needs (C requests exactly these; a fifth gives the output its props)."""
    return _guarded(n, "could not be planned", stage.plan, n)


def probe(stage: Stage, n: int) -> tuple[int, ...]:
    """Source frames to hand to ``analyse`` before output n is planned (stages with ``probes`` only)."""
    return _guarded(n, "could not be planned", stage.probe, n)


def analyse(stage: Stage, n: int, indices, src_ptrs, src_strides) -> None:
    return _guarded(n, "could not be planned", stage.analyse, indices, src_ptrs, src_strides)


def repeat_mark(stage: Stage, n: int) -> int:
    """The ConvLSTMRepeat prop of output n, -1 for none (stages with ``probes`` only)."""
    return _guarded(n, "could not be planned", stage.repeat_mark, n)


def process(stage: Stage, n: int, src_ptrs, src_strides, dst_ptrs, dst_strides, frame_props) -> int:
    return _guarded(n, "failed", stage.process, n, src_ptrs, src_strides, dst_ptrs, dst_strides, frame_props)


def _guarded(n: int, failed: str, call, *args):
    """``call(*args)`` with any error but InterpolateError worded for the user, naming output frame n."""
    try:
        return call(*args)
    except InterpolateError:
        raise
    except Exception as exc:
        log.debug("frame %d %s", n, failed, exc_info=True)
        raise InterpolateError(f"frame {n} {failed}: {type(exc).__name__}: {exc}") from exc
