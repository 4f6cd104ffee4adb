"""Files out of Debian packages without installing them, for the scripts that collect clips
(fetch_training_videos.py, fetch_heldout_clips.py): ``apt-get download`` (no root) and ``dpkg-deb -x``."""
from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
from pathlib import Path


def check_tools(who: str) -> None:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{who}: {tool} is missing (a Debian/Ubuntu machine is needed)")


def unpack(package: str, tmp: Path, who: str) -> Path:
    """The package's files under tmp/<package>; its .deb is removed again."""
    print(f"apt-get download {package}", flush=True)
    got = subprocess.run(["apt-get", "download", "-q", package], cwd=tmp, capture_output=True, text=True)
    if got.returncode != 0:
        raise SystemExit(f"{who}: apt-get download {package} failed:\n{got.stderr}")
    deb = next(tmp.glob(f"{package}_*.deb"))
    root = tmp / package
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    deb.unlink()
    return root


def copy_out(src: Path, target: Path) -> None:
    """A file as it is, or a .gz unpacked."""
    if src.suffix == ".gz":
        with gzip.open(src, "rb") as fin, open(target, "wb") as fout:
            shutil.copyfileobj(fin, fout)
    else:
        shutil.copyfile(src, target)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(out: Path, entries: list[tuple[Path, str]]) -> None:
    """``out``/MANIFEST.txt: a line per (file, note) in the order given: its sha256, its path under ``out``
    and the note, if any (what a later run or a reader checks the fetched files against)."""
    with open(out / "MANIFEST.txt", "w") as f:
        for path, note in entries:
            f.write(f"{sha256(path)}  {path.relative_to(out)}" + (f"  {note}" if note else "") + "\n")
