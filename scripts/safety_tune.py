"""The safety net's thresholds over held-out captures (scripts/safety_capture.py): for each setting of
model/safety.py's MIDDLE_RATIO and OUTER_RATIO, the mean and 5th-percentile frame PSNR of the net's frames
with the fallback, per case, beside the net alone, the blend and a 16x16-block oracle of the two.

    python scripts/safety_tune.py cup,city,water,crossing,disc,icon
"""
import itertools
import sys

import numpy as np
import torch
import torch.nn.functional as F

from convlstm.model import safety


def u8(f):
    return ((f.float() + 1) * 127.5).round().clamp(0, 255)


def psnr(a, b):
    return 10 * np.log10(255 ** 2 / max(((a - b) ** 2).mean().item(), 1e-10))


def load(case):
    out = []
    for r in torch.load(f"/tmp/safety_cap/{case}.pt"):
        x, full, pred = r["x"].float()[None], r["full"].float()[None], r["pred"].float()[None]
        conf = r["conf"].float().reshape(1, 1, 1, *r["x"].shape[-2:])
        out.append((x, conf * full + (1 - conf) * x, pred, r["truth"].float()))
    return out


def main(cases):
    data = {c: load(c) for c in cases}
    for c, recs in data.items():
        net = [psnr(u8(p[0]), t) for x, m, p, t in recs]
        blend = [psnr(u8(safety.blend_at(x, 0.5)[0]), t) for x, m, p, t in recs]
        oracle = []
        for x, m, p, t in recs:
            b = safety.blend_at(x, 0.5)
            en = F.avg_pool2d(((u8(p) - t) ** 2).mean(1, keepdim=True), 16, 1, 8)
            eb = F.avg_pool2d(((u8(b) - t) ** 2).mean(1, keepdim=True), 16, 1, 8)
            pick = (eb < en).float()[..., :t.shape[-2], :t.shape[-1]]
            oracle.append(psnr(u8((pick * b + (1 - pick) * p)[0]), t))
        print(f"{c:9s} net {np.mean(net):6.2f} (p5 {np.percentile(net, 5):6.2f})  blend {np.mean(blend):6.2f}  "
              f"block oracle {np.mean(oracle):6.2f}")
    for middle, outer in itertools.product([(0.1, 0.5), (0.1, 0.7), (0.2, 0.5), (0.2, 0.7), (0.3, 0.5)],
                                           [(0.2, 0.6), (0.2, 0.9), (0.4, 0.6), (0.4, 0.9)]):
        safety.MIDDLE_RATIO, safety.OUTER_RATIO = middle, outer
        line = []
        for c, recs in data.items():
            scores, trusts = [], []
            for x, m, p, t in recs:
                trust = safety.trust_map(x, m)
                scores.append(psnr(u8(safety.fall_back(p, x, trust, 0.5)[0]), t))
                trusts.append(float(trust.mean()))
            line.append(f"{c[:6]} {np.mean(scores):6.2f}/{np.percentile(scores, 5):6.2f} t{np.mean(trusts):.2f}")
        print(f"middle {middle} outer {outer}: " + " | ".join(line), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","))
