"""Whole files or none: every file this package writes (outputs, cluster pieces and manifests, checkpoints)
is written under a partial name beside its target and renamed over it only once complete.

The partial file is created by this process itself, exclusively, under an unpredictable name, so nothing
planted in the folder (a symbolic link, a file of someone else's) can be written through; the rename
replaces a link at the target rather than following it. It stays private (0600) while partial and takes
the permissions the umask gives new files once complete.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

PARTIAL = ".convlstm-partial"


class UnwritableFolder(OSError):
    """The partial file cannot be created: the folder is missing, read-only or not ours to write."""


def partial_files(target: Path) -> list[Path]:
    """Partial files of runs writing ``target`` (left only by a run that was killed outright)."""
    return sorted(target.parent.glob(f".{target.stem}.*{PARTIAL}{target.suffix}"))


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)   # elsewhere: read by setting (not thread-safe, so only as a fallback)
    os.umask(mask)
    return mask


@contextmanager
def partial_file(target: str | Path) -> Iterator[BinaryIO]:
    """A new binary file beside ``target``, renamed over it when the block ends without an error and
    removed when it raises (a child process may write its ``fileno()``). Raises OSError naming the folder
    when it cannot be created there."""
    target = Path(target)
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=PARTIAL + target.suffix)
    except OSError as exc:
        raise UnwritableFolder(exc.errno, f"cannot write into {str(target.parent)!r}: {exc.strerror}") from None
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(partial, target)
    except BaseException:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass   # a read-only or vanished folder: the error that got us here says more
        raise
