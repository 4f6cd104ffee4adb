"""Entry points the C filter calls. Errors leave here as InterpolateError with a readable message."""
from __future__ import annotations

import logging
from typing import Any

from .errors import InterpolateError
from .interpolator import Interpolator, Retimer, build as build_stages

log = logging.getLogger("convlstm")


def build(info: dict[str, Any], args: dict[str, Any]) -> list[Interpolator | Retimer]:
    try:
        return build_stages(info, args)
    except InterpolateError:
        raise
    except Exception as exc:
        log.debug("Interpolate creation failed", exc_info=True)
        raise InterpolateError(f"could not set up the filter: {type(exc).__name__}: {exc}") from exc


def process(stage: Interpolator, n: int, src_ptrs, src_strides, dst_ptrs, dst_strides, frame_props) -> int:
    try:
        return stage.process(n, src_ptrs, src_strides, dst_ptrs, dst_strides, frame_props)
    except InterpolateError:
        raise
    except Exception as exc:
        log.debug("frame %d failed", n, exc_info=True)
        raise InterpolateError(f"frame {n} failed: {type(exc).__name__}: {exc}") from exc
