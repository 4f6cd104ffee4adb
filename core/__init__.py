"""vapoursynth-convlstm: frame interpolation with the ConvLSTM residual network of Suzuki & Ikehara (2020).

In a .vpy script use ``core.convlstm.Interpolate(clip)`` (autoloaded native plugin); from Python,
``convlstm.interpolate(clip)`` is the same filter. The package reads in the frame's order:
``filter/`` (what C calls, per frame), ``model/`` (the network), ``checkpoint``/``config`` (weights and
their config), ``video``/``colour`` (files and colour descriptions); around them ``train/``, ``data/``,
``evaluate/`` and ``cli/``. docs/design.md in the repository has the whole picture.
"""
from __future__ import annotations

from .api import adapt, interpolate, interpolate_source, trust_summary
from .options import Options

__version__ = "0.1.0"
__all__ = ["Options", "adapt", "interpolate", "interpolate_source", "trust_summary", "__version__"]
