"""Freed memory kept for the next pass: glibc's malloc told not to hand it back to the system.

A pass of the net on the CPU allocates and frees a few hundred MB of temporaries (activations, compensated
frames, cost planes, most of them a few MB each). glibc returns large freed blocks to the system (those
above its mmap threshold at once, the heap's top above its trim threshold), so every pass asked for them
again and the kernel faulted each page in and zeroed it: 25-34 thousand page faults a pass at 640x360 in
bf16, 55-73 ms of system time on one thread (docs/benchmarks.md). With the mmap threshold at its largest
(32 MiB: larger blocks are still mapped on their own) and trimming off, the blocks are reused: 0-3 faults
a pass.

The cost is the host process's: memory freed anywhere in it stays with the process for reuse instead of
going back to the system while it runs (its size stays near its peak, which the filter reaches every pass
anyway). Any engine on the CPU sets it (the filter, bench, evaluate, a training run's validation), once
per process, and it cannot be undone there. Linux with glibc only; nothing is done where the user tuned
malloc already (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_ or glibc.malloc tunables in the environment) or
said no: ``CONVLSTM_KEEP_MEMORY=0`` (or false, no, off) before the first engine.
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
NO_TRIMMING = -1             # M_TRIM_THRESHOLD's value that turns trimming off (mallopt(3))
MMAP_THRESHOLD = 32 << 20    # blocks above this are still mapped on their own (glibc's largest threshold)
USERS_THRESHOLDS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")   # the user's own malloc tuning,
USERS_TUNABLES = "GLIBC_TUNABLES"                                        # or glibc.malloc.* in this one

_lock = threading.Lock()
_kept: bool | None = None    # None until asked (once per process)


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory for reuse (module docstring), once per process; whether
    it is so now."""
    global _kept
    with _lock:
        if _kept is not None:
            return _kept
        if os.environ.get("CONVLSTM_KEEP_MEMORY", "1").strip().lower() in ("0", "false", "no", "off") \
                or any(name in os.environ for name in USERS_THRESHOLDS) \
                or "glibc.malloc." in os.environ.get(USERS_TUNABLES, "") \
                or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            _kept = False
            return _kept
        try:     # the threshold first: where it is refused (a 32-bit glibc), trimming is left as it was
            libc = ctypes.CDLL(None)
            kept = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, NO_TRIMMING) == 1
        except (OSError, AttributeError):
            kept = False
        _kept = kept
        log.debug("malloc keeps freed memory for reuse: %s", kept)
        return kept
