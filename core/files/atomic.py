"""Whole files or none: every file this package writes (outputs, cluster pieces and manifests, checkpoints)
is written under a partial name beside its target and renamed over it only once complete.

The partial file is created by this process itself, exclusively, under an unpredictable name, so nothing
planted in the folder (a symbolic link, a file of someone else's) can be written through; the rename
replaces a link at the target rather than following it. It stays private (0600) while partial and takes
the permissions the umask gives new files once complete.
"""
from __future__ import annotations

import errno
import glob
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ..errors import UsageError

PARTIAL = ".convlstm-partial"
NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


class TargetAppeared(UsageError):
    """Something took the target's name while the file was being written, and replacing was not asked for."""


class UnwritableFolder(OSError):
    """The partial file cannot be created: the folder is missing, read-only or not ours to write."""


def partial_files(target: Path) -> list[Path]:
    """Partial files of runs writing ``target`` (left only by a run that was killed outright)."""
    return sorted(target.parent.glob(f".{glob.escape(target.stem)}.*{PARTIAL}{glob.escape(target.suffix)}"))


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


def _publish(partial: Path, target: Path, replace: bool) -> None:
    """The complete file under the target's name: over whatever is there when ``replace``, else only if
    the name is still free (a hard link fails if it is taken; no window between the check and the act)."""
    if replace:
        os.replace(partial, target)
        return
    try:
        os.link(partial, target)
    except FileExistsError:
        raise TargetAppeared(f"{str(target)!r} appeared while this run was writing it (another run, or "
                             "someone else); nothing was replaced: pass --force to overwrite it") from None
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
        if os.path.lexists(target):   # a file system without hard links: check, then rename
            raise TargetAppeared(f"{str(target)!r} appeared while this run was writing it; nothing was "
                                 "replaced: pass --force to overwrite it") from None
        os.replace(partial, target)
        return
    partial.unlink()


@contextmanager
def partial_file(target: str | Path, replace: bool = True) -> Iterator[BinaryIO]:
    """A new binary file beside ``target``, given the target's name when the block ends without an error
    and removed when it raises (a child process may write its ``fileno()``). ``replace=False``: a target
    that exists by then is kept and TargetAppeared raised (callers check for it before the work; this
    catches one that appeared during it). Raises UnwritableFolder when the folder takes no new file."""
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
        _publish(partial, target, replace)
    except BaseException:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass   # a read-only or vanished folder: the error that got us here says more
        raise
