"""The pieces folder of one cluster output, OUT_DIR/.<stem>.convlstm-pieces/: made by a run (or taken over
from an interrupted run, which marked it), locked while a run uses it, read back only within itself, and
removed only as far as a run wrote it.

What is in it: ``mark`` (this is a pieces folder of ours), ``lock`` (held by the run using it),
``manifest.json`` (the settings the pieces were made with and each finished piece's hash) and the pieces,
``NNNNN.nut``. Anything else in it is the user's and stays.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import stat
from dataclasses import asdict
from pathlib import Path

from ..checkpoint import file_sha256
from ..errors import UsageError
from ..files.atomic import PARTIAL, partial_file
from .worker import PieceResult

log = logging.getLogger("convlstm")

FOLDER = ".{stem}.convlstm-pieces"
MARK, LOCK, MANIFEST = "mark", "lock", "manifest.json"
PIECE = re.compile(r"^\d{5}\.nut$")
SAMPLES = 16               # blocks of a source read for its fingerprint, besides its first and last MiB
SAMPLE_BYTES = 1 << 16


class PiecesFolder:
    def __init__(self, output: Path) -> None:
        self.output = output
        self.path = output.parent / FOLDER.format(stem=output.stem)
        self._lock: int | None = None

    def piece(self, index: int) -> Path:
        return self.path / f"{index:05d}.nut"

    def open(self) -> None:
        """Makes the folder (exclusively) or takes over the one an earlier run made and marked; refuses a
        link, a file, a folder not made by a run, and one that another run holds."""
        try:
            os.mkdir(self.path, 0o700)
            fd = os.open(self.path / MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            os.write(fd, f"pieces of {self.output.name}, made by convlstm interpolate --cluster\n".encode())
            os.close(fd)
        except FileExistsError:
            self._check_taken_over()
        try:
            self._lock = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise UsageError(f"another run is writing {str(self.output)!r} (its pieces folder {str(self.path)!r} "
                             "is in use); wait for it to end, or choose another output folder") from None
        except OSError as exc:
            raise UsageError(f"cannot lock {str(self.path / LOCK)!r}: {exc.strerror}") from None
        self._drop_partials()

    def _drop_partials(self) -> None:
        """Partial pieces and manifests of a run that was killed (no run writes here while we hold the lock)."""
        for entry in os.scandir(self.path):
            if entry.name.startswith(".") and PARTIAL in entry.name and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)

    def _check_taken_over(self) -> None:
        """An earlier run's folder: a real folder of this user's that no one else may write into, marked."""
        info = os.lstat(self.path)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{str(self.path)!r} is in the way of this run's pieces folder and is not a folder it "
                             "made (a link or a file); move it away")
        try:
            mark = os.lstat(self.path / MARK)
        except FileNotFoundError:
            mark = None
        if mark is None or not stat.S_ISREG(mark.st_mode):
            raise UsageError(f"{str(self.path)!r} exists but was not made by convlstm; move it away (nothing in it "
                             "was touched)")
        if info.st_uid != os.geteuid() or mark.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise UsageError(f"{str(self.path)!r} belongs to another user or others may write into it, so its "
                             "pieces cannot be trusted; move it away")

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def reusable(self, settings: str) -> dict[int, PieceResult]:
        """Finished pieces of an interrupted run with the same settings whose files still hash as recorded;
        a manifest that is not what a run writes is ignored (with a notice), never followed."""
        try:
            data = json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s: its manifest cannot be read (%s); making every piece again", self.path.name, exc)
            return {}
        if not isinstance(data, dict) or data.get("settings") != settings or not isinstance(data.get("pieces"), list):
            return {}
        out = {}
        for entry in data["pieces"]:
            piece = self._piece_of(entry)
            if piece is not None and file_sha256(piece.path) == piece.sha256:
                out[piece.chunk] = piece
        return out

    def _piece_of(self, entry: object) -> PieceResult | None:
        """A manifest entry as a piece of this folder, or None (the wrong shape, or a path elsewhere)."""
        try:
            piece = PieceResult(**entry)   # type: ignore[arg-type]
            inside = Path(piece.path) == self.piece(int(piece.chunk))
        except (TypeError, ValueError):
            return None
        if not inside or not isinstance(piece.sha256, str):
            log.warning("%s: ignoring a manifest entry outside the folder (%r)", self.path.name, entry)
            return None
        try:
            return piece if stat.S_ISREG(os.lstat(piece.path).st_mode) else None
        except OSError:
            return None

    def record(self, settings: str, source: Path, done: dict[int, PieceResult]) -> None:
        """The manifest, rewritten whole after every finished piece."""
        with partial_file(self.path / MANIFEST) as f:
            f.write(json.dumps({"settings": settings, "source": str(source),
                                "pieces": [asdict(p) for p in done.values()]}, indent=1).encode())

    def remove(self) -> None:
        """Removes what a run writes here; the folder goes too unless something else is in it (kept, said)."""
        os.unlink(self.path / MARK)    # first: a run arriving now is refused, not let in half-way
        self._drop_partials()
        for entry in os.scandir(self.path):
            if entry.is_file(follow_symlinks=False) and (PIECE.match(entry.name) or entry.name == MANIFEST):
                os.unlink(entry.path)
        os.unlink(self.path / LOCK)    # still held until the folder is gone
        left = sorted(os.listdir(self.path))
        if left:
            log.warning("%s: kept, it holds files that are not pieces (%s)", self.path, ", ".join(left[:5]))
        else:
            os.rmdir(self.path)
        self.close()


def source_fingerprint(path: Path) -> list:
    """What identifies a source without reading all of it: size, modification time and a hash of its
    first and last MiB and of blocks spread through it (a file rewritten in place with its size and time
    kept is still told apart where it changed in any of those)."""
    info = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        for k in range(SAMPLES):
            f.seek(info.st_size * (k + 1) // (SAMPLES + 1))
            h.update(f.read(SAMPLE_BYTES))
        f.seek(max(0, info.st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return [str(path.resolve()), info.st_size, info.st_mtime_ns, h.hexdigest()]
