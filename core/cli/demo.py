"""`convlstm demo`: the README's main job (scripts/demo.sh runs it), on the small clip that ships with the package."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import vapoursynth as vs

from ..api import interpolate
from ..evaluate.clips import DEMO_CLIP
from ..video import colour_of, open_source, to_rgb
from ..errors import UsageError
from ..files.route import interpolate_file
from ..options import Options



def _rgb8(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]) for p in range(3)], -1).copy()


def side_by_side(src_path: Path, png: Path, index: int, device: str, weights: str | None) -> None:
    """Source frame i | interpolated i+1/2 | source frame i+1 | plain blend, labelled."""
    src = open_source(src_path)
    rgb = to_rgb(src, colour_of(src)).resize.Point(format=vs.RGB24)
    doubled = interpolate(rgb, weights=weights, device=device)
    a, b = _rgb8(rgb.get_frame(index)), _rgb8(rgb.get_frame(index + 1))
    mid = _rgb8(doubled.get_frame(2 * index + 1))
    blend = ((a.astype(np.uint16) + b + 1) // 2).astype(np.uint8)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tiles = [(f"source {index}", a), ("convlstm (interpolated)", mid), (f"source {index + 1}", b), ("blend", blend)]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (label, img) in zip(axes, tiles):
        ax.imshow(img)
        ax.set_title(label, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def run(out_dir: str | Path = "convlstm-demo", device: str = "auto", weights: str | None = None,
        progress: bool = True) -> dict:
    """Interpolates the demo clip to 2x into ``out_dir`` (made if missing): demo_2x.mkv and side_by_side.png.
    Says where before it starts: the default is a folder under the current directory, wherever that is."""
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out_dir)!r} is a file; the demo writes a folder (a video and a "
                         "PNG): name a folder")
    video = out / "demo_2x.mkv"
    print(f"demo: writing {video.name} and side_by_side.png into {out}/", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    result = interpolate_file(DEMO_CLIP, video, Options(device=device, weights=weights), force=True, progress=progress)
    png = out / "side_by_side.png"
    side_by_side(DEMO_CLIP, png, 20, device, weights)
    return {"video": result.output, "png": png, "frames": result.frames, "fps": result.fps, "seconds": result.seconds}
