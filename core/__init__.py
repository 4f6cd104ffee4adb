"""vapoursynth-convlstm: frame interpolation with the ConvLSTM residual network of Suzuki & Ikehara (2020).

In a .vpy script use ``core.convlstm.Interpolate(clip)`` (autoloaded native plugin); from Python,
``convlstm.interpolate(clip)`` is the same filter.
"""
from __future__ import annotations

from .api import interpolate

__version__ = "0.1.0"
__all__ = ["interpolate", "__version__"]
