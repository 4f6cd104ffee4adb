"""Logging for a library that lives inside vspipe and editors: stderr is the only place users look."""
from __future__ import annotations

import logging
import os

logger = logging.getLogger("convlstm")
_said: set[str] = set()

if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("convlstm: %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(os.environ.get("CONVLSTM_LOG_LEVEL", "INFO").upper())
    logger.propagate = False


def info_once(message: str) -> None:
    """Logs a message the first time only (device fallbacks, default weights): once per process."""
    if message not in _said:
        _said.add(message)
        logger.info(message)
