"""Generates core/assets/demo.mp4 deterministically: a camera pan over `coffee` with the astronaut's
portrait sliding across it (both public-domain / CC0 photos shipped in scikit-image), plus a tone
as audio so the demo exercises audio pass-through. Run once; the result is committed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from convlstm.video import ffmpeg_exe
from convlstm.data.photos import _package_dir

W, H, FRAMES, FPS = 320, 240, 48, 24


def load(name: str) -> torch.Tensor:
    img = np.asarray(Image.open(_package_dir("skimage") / "data" / name).convert("RGB"), np.float32) / 255
    return torch.from_numpy(img).permute(2, 0, 1)


def warp(img: torch.Tensor, x0: float, y0: float, scale: float) -> torch.Tensor:
    """W x H view of img whose top-left is (x0, y0) in img pixels, sampling every 1/scale px."""
    _, h, w = img.shape
    xs = (x0 + torch.arange(W) / scale + 0.5) / w * 2 - 1
    ys = (y0 + torch.arange(H) / scale + 0.5) / h * 2 - 1
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]
    return F.grid_sample(img[None], grid, align_corners=False, padding_mode="border")[0]


def main(out: Path) -> None:
    coffee, astro = load("coffee.png"), load("astronaut.png")
    face = astro[:, 20:220, 140:340]
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 200), torch.linspace(-1, 1, 200), indexing="ij")
    mask = ((1 - (xx ** 2 + yy ** 2).sqrt()) * 40).clamp(0, 1)
    frames = []
    for n in range(FRAMES):
        bg = warp(coffee, 40 + 3.0 * n, 60 + 0.8 * n, 0.9 + 0.002 * n)
        fx, fy = -60 + 7.5 * n, 20 + 1.5 * n
        canvas = torch.zeros(4, H, W)
        patch = torch.cat([face, mask[None]])
        scaled = F.interpolate(patch[None], size=(120, 120), mode="bilinear", antialias=True)[0]
        x0, y0 = int(np.floor(fx)), int(np.floor(fy))
        sub = (fx - x0, fy - y0)
        shifted = F.grid_sample(scaled[None], torch.stack(torch.meshgrid(
            (torch.arange(120) - sub[0] + 0.5) / 120 * 2 - 1, (torch.arange(120) - sub[1] + 0.5) / 120 * 2 - 1,
            indexing="xy"), -1)[None], align_corners=False)[0]
        xa, xb, ya, yb = max(0, x0), min(W, x0 + 120), max(0, y0), min(H, y0 + 120)
        if xa < xb and ya < yb:
            canvas[:, ya:yb, xa:xb] = shifted[:, ya - y0:yb - y0, xa - x0:xb - x0]
        img = canvas[:3] * canvas[3:] + bg * (1 - canvas[3:])
        frames.append((img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy())
    raw = np.stack(frames).tobytes()
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS),
           "-i", "-", "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={FRAMES / FPS}",
           "-c:v", "libx264", "-preset", "veryslow", "-crf", "18", "-pix_fmt", "yuv420p",
           "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
           "-color_range", "tv", "-c:a", "aac", "-b:a", "48k", "-shortest", "-movflags", "+faststart",
           "-bitexact", str(out)]
    subprocess.run(cmd, input=raw, check=True)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "core" / "assets" / "demo.mp4")
