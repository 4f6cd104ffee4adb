"""Held-out material for the safety net's thresholds (model/safety.py): runs the bundled net on a clip or on a
synthetic case (disc: a textured disc rotating in place on black; crossing: a textured object crossing a textured
background; water: two textures sliding through each other plus a ripple; icon: icons appearing on a panning
background) and keeps, per made frame, the net's frame, the four frames, the fully warped frames, the vectors and
the confidence, for scripts/safety_tune.py. Never run it on the evaluation clips.

    python scripts/safety_capture.py water synth:water      # -> /tmp/safety_cap/water.pt
    python scripts/safety_capture.py cup path/to/cup.mp4
"""
import sys, math, numpy as np, torch, torch.nn.functional as F
from convlstm.checkpoint import load_weights
from convlstm.filter.engine import Engine
from convlstm.evaluate.protocol import split_even_odd, RGB24
from convlstm.filter.schedule import clamped_window
from convlstm.model import motion as M

torch.set_num_threads(2)
net, _ = load_weights(None)
eng = Engine(net, torch.device("cpu"))
store = {}
orig = net.compensate
def compensate(frames, t=0.5, valid=None):
    height, width = frames.shape[-2:]
    h, w = valid or (height, width)
    with torch.no_grad():
        x = frames[..., :h, :w].float()
        unit = (x + 1) * 0.5
        v = M.estimate_motion(unit[:, 1], unit[:, 2], t)
        conf = M.confidence(unit, v, t)[:, None]
        full = M.warp_to(x, v, t, mode="bicubic")
        moved = conf * full + (1 - conf) * x
        store.update(x=x[0].clone(), v=v[0].clone(), conf=conf[0, 0].clone(), full=full[0].clone())
        if (h, w) != (height, width):
            moved = F.pad(moved.flatten(1, 2), (0, width - w, 0, height - h), mode="replicate").unflatten(1, (4, 3))
    return moved.to(frames.dtype)
net.compensate = compensate

def synth(kind, n=30, H=192, W=320, seed=0):
    g = np.random.default_rng(seed)
    def tex(h, w, s):
        z = torch.from_numpy(g.standard_normal((1, 1, h, w)).astype(np.float32))
        k = int(3 * s) | 1
        z = F.avg_pool2d(z, k, 1, k // 2)
        z = F.avg_pool2d(z, k, 1, k // 2)
        return (z - z.mean()) / z.std()
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    def sample(img, fx, fy):   # img (1,C,h,w); fx fy px coords
        hh, ww = img.shape[-2:]
        grid = torch.stack([fx / (ww - 1) * 2 - 1, fy / (hh - 1) * 2 - 1], -1)[None]
        return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=True)[0]
    frames = []
    if kind == "disc":     # textured disc rotating in place on black
        t0 = tex(H, W, 2.0); col = torch.rand(3, 1, 1)
        R = 0.4 * H; cx, cy = W / 2, H / 2
        for k in range(n):
            a = k * 0.06
            dx, dy = xx - cx, yy - cy
            sx = cx + math.cos(a) * dx - math.sin(a) * dy; sy = cy + math.sin(a) * dx + math.cos(a) * dy
            val = sample(t0, sx, sy)
            mask = ((dx ** 2 + dy ** 2).sqrt() < R).float()
            mask = F.avg_pool2d(F.pad(mask[None, None], (1, 1, 1, 1), mode="replicate"), 3, 1)[0]
            frames.append(mask * (0.5 + 0.2 * val) * (0.6 + 0.8 * col))
    elif kind == "crossing":   # textured object crossing a textured background (static), 7 px / frame
        bg = tex(H, W, 1.5); ob = tex(H, W, 1.0)
        for k in range(n):
            x0 = 10 + 7 * k
            fg = sample(ob, xx - x0, yy)
            m = ((xx >= x0) & (xx < x0 + 60) & (yy >= 60) & (yy < 130)).float()
            frames.append((m * (0.6 + 0.15 * fg) + (1 - m) * (0.4 + 0.12 * bg[0])).expand(3, -1, -1) * torch.tensor([1.0, 0.9, 0.8]).view(3, 1, 1))
    elif kind == "water":      # two textures sliding through each other in different directions + a shimmer
        a = tex(H, W, 1.5); b = tex(H, W, 2.5); c = tex(H, W, 4.0)
        for k in range(n):
            la = sample(a, xx - 1.5 * k, yy - 0.5 * k)
            lb = sample(b, xx + 1.0 * k, yy - 1.5 * k)
            warpx = 2.5 * torch.sin(yy / 9 + 0.7 * k); warpy = 2.5 * torch.cos(xx / 11 + 0.9 * k)
            lc = sample(c, xx + warpx, yy + warpy)
            val = 0.45 + 0.08 * la + 0.08 * lb + 0.06 * lc
            frames.append(val * torch.tensor([0.5, 0.8, 1.0]).view(3, 1, 1))
    elif kind == "icon":      # icons popping in on a slowly panning textured background
        bg = tex(H, W + 200, 1.5)
        for k in range(n):
            img = (0.45 + 0.12 * sample(bg, xx + 1.0 * k, yy)).expand(3, -1, -1).clone()
            for j, (x0, y0) in enumerate([(40, 40), (140, 90), (230, 50), (60, 130)]):
                if k >= 3 + 7 * j:
                    img[:, y0:y0 + 24, x0:x0 + 24] = torch.tensor([0.95, 0.3 + 0.2 * j, 0.2]).view(3, 1, 1)
            frames.append(img)
    arr = torch.stack(frames).clamp(0, 1)
    return (arr.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)

name, src = sys.argv[1], sys.argv[2]
if src.startswith("synth:"):
    frames = synth(src[6:])
else:
    from convlstm.video import read_rgb
    frames = read_rgb(src, 60)
even, odd = split_even_odd(frames)
n = len(even)
stack = RGB24.to_unit(torch.from_numpy(even).permute(0, 3, 1, 2))
rec = []
for i in range(n - 1):
    win = stack[list(clamped_window(i, n))]
    with torch.inference_mode():
        pred = eng.predict(win[None], 0.5)[0]
    x = store["x"]
    lum = lambda f: (0.299 * f[0] + 0.587 * f[1] + 0.114 * f[2] + 1) * 0.5
    rec.append(dict(pred=pred.half(), x=x.half(), full=store["full"].half(), v=store["v"], conf=store["conf"].half(),
                    truth=torch.from_numpy(odd[i]).permute(2, 0, 1)))
    print(name, i, flush=True)
import os
os.makedirs("/tmp/safety_cap", exist_ok=True)
torch.save(rec, f"/tmp/safety_cap/{name}.pt")
