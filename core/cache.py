"""Where the package keeps what it makes for later runs: $XDG_CACHE_HOME/convlstm (else ~/.cache/convlstm)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convlstm"
