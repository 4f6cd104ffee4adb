"""Still photographs that ship inside installed packages: the raw material of synthetic motion.

Never the evaluation clips. Grey images are used too (tinted at sampling time for colour variety).
"""
from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "color.png", "hubble_deep_field.jpg", "ihc.png",
                  "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg", "brick.png",
                  "camera.png", "grass.png", "gravel.png", "moon.png", "coins.png", "cell.png", "page.png",
                  "text.png", "chessboard_RGB.png", "logo.png")
MATPLOTLIB_PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def photo_paths() -> list[Path]:
    paths: list[Path] = []
    skimage = _package_dir("skimage")
    if skimage:
        paths += [skimage / "data" / n for n in SKIMAGE_PHOTOS]
    mpl = _package_dir("matplotlib")
    if mpl:
        paths += [mpl / "mpl-data" / "sample_data" / n for n in MATPLOTLIB_PHOTOS]
    sklearn = _package_dir("sklearn")
    if sklearn:
        paths += sorted((sklearn / "datasets" / "images").glob("*.jpg"))
    return [p for p in paths if p.is_file()]


@lru_cache(maxsize=1)
def load_photos(min_side: int = 160) -> tuple[np.ndarray, ...]:
    """Every usable photo as float32 (H, W, 3) on [0, 1]."""
    photos = []
    for path in photo_paths():
        img = Image.open(path)
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            bg = Image.new("RGBA", img.size, (128, 128, 128, 255))
            img = Image.alpha_composite(bg, img)
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        if min(arr.shape[:2]) >= min_side:
            photos.append(arr)
    if not photos:
        raise RuntimeError("no photographs found: install scikit-image (pip install 'vapoursynth-convlstm[data]')")
    return tuple(photos)
