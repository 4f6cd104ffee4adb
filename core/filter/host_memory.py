"""Freed memory kept for the next pass: glibc's malloc told not to hand it back to the system.

A pass of the net on the CPU allocates and frees a few hundred MB of temporaries (at 640x360: gate tensors
of 16-63 MB, compensated frames, cost planes). glibc returns large freed blocks to the system (those above
its mmap threshold at once, the heap's top above its trim threshold), so every pass asked for them again
and the kernel faulted each page in and zeroed it: 25-34 thousand page faults a pass at 640x360, 55-73 ms
of system time on one thread (docs/benchmarks.md). With the mmap threshold at its largest (32 MiB: larger
blocks are still mapped on their own) and no trimming, the blocks are reused: 3 faults a pass.

The cost is the host process's: memory freed anywhere in it stays with the process for reuse instead of
going back to the system while it runs (its size stays at its peak, which the filter reaches every pass
anyway). Linux with glibc only (elsewhere nothing is done); once per process; ``CONVLSTM_KEEP_MEMORY=0``
leaves malloc as it was.
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

log = logging.getLogger("convlstm")

M_TRIM_THRESHOLD = -1        # mallopt's parameters (glibc's malloc.h)
M_MMAP_THRESHOLD = -3
KEPT_TOP = 2 ** 31 - 1       # bytes of free heap top kept (the largest an int can say: never trimmed)
MMAP_THRESHOLD = 32 << 20    # blocks above this are still mapped on their own (glibc's largest threshold)

_lock = threading.Lock()
_done = False


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory for reuse (module docstring), once per process; whether
    it is so now."""
    global _done
    with _lock:
        if _done:
            return True
        if os.environ.get("CONVLSTM_KEEP_MEMORY", "1") == "0" or platform.system() != "Linux" \
                or platform.libc_ver()[0] != "glibc":
            return False
        try:
            libc = ctypes.CDLL(None)
            kept = libc.mallopt(M_TRIM_THRESHOLD, KEPT_TOP) == 1 and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        except (OSError, AttributeError):
            kept = False
        _done = kept
        log.debug("malloc keeps freed memory for reuse: %s", kept)
        return kept
