#!/usr/bin/env python3
"""What a linear model reads from mean-pooled features: the reference for per-modality
summary models (meanpool, dual_cnn, two_tower), on any directory in the course's layout.

Each clip's video and audio are dequantized (the course's formula) and averaged over time;
the averages are standardised with the training clips' mean and spread; a ridge regression
maps video means to audio means (fitted on the training list); a test video's score against
a test audio is the cosine between the predicted and the actual (standardised) audio mean.
Retrieval follows avc's protocol: consecutive groups of 30 test pairs, each video ranks the
30 audios of its group (top-1, top-5). Nothing here is trained by avc: it says how much
matching evidence a per-clip summary carries, so a summary model at chance on data where
this is well above chance is a training failure, not a data limit.

    python scripts/ridge_baseline.py DIR [--lambda 1,10,100,1000]

DIR holds <id>/vfeat.npy, <id>/afeat.npy and train.txt, test_video.txt, test_audio.txt (as
written by `avc data synth --out DIR`). Needs numpy only.
"""

import argparse
import os
import sys

import numpy as np

GROUP = 30


def dequantize(q):
    return q.astype(np.float32) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)


def read_list(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def pooled(root, ids, name):
    """[n, dim] time-averaged features of stream `name` (vfeat or afeat)."""
    return np.stack([dequantize(np.load(os.path.join(root, i, name + ".npy"))).mean(axis=0) for i in ids])


def ranks(scores):
    """1-based rank of the true candidate (the diagonal) in each row; ties count against it."""
    true = np.diag(scores)[:, None]
    return (scores >= true).sum(axis=1)


def retrieval(pred, audio):
    """Top-1 and top-5 over 30-way groups, video -> audio, by cosine."""
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    p, a = unit(pred), unit(audio)
    hits1 = hits5 = n = 0
    for start in range(0, len(p) - GROUP + 1, GROUP):
        r = ranks(p[start : start + GROUP] @ a[start : start + GROUP].T)
        hits1 += (r <= 1).sum()
        hits5 += (r <= 5).sum()
        n += len(r)
    return hits1 / max(n, 1), hits5 / max(n, 1), n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--lambda", dest="lams", default="0.1,1,10,100,1000")
    args = ap.parse_args()
    root = args.dir
    train = read_list(os.path.join(root, "train.txt"))
    tv, ta = read_list(os.path.join(root, "test_video.txt")), read_list(os.path.join(root, "test_audio.txt"))
    if len(tv) < GROUP:
        sys.exit(f"{root}: {len(tv)} test pairs, fewer than one group of {GROUP}")
    xv, xa = pooled(root, train, "vfeat"), pooled(root, train, "afeat")
    yv, ya = pooled(root, tv, "vfeat"), pooled(root, ta, "afeat")
    # Standardise with the training clips' statistics (what a batch norm's running
    # statistics would hold after training).
    mv, sv = xv.mean(0), xv.std(0) + 1e-6
    ma, sa = xa.mean(0), xa.std(0) + 1e-6
    xv, yv = (xv - mv) / sv, (yv - mv) / sv
    xa, ya = (xa - ma) / sa, (ya - ma) / sa
    print(f"{root}: {len(train)} training clips, {len(tv)} test pairs, video {xv.shape[1]}, audio {xa.shape[1]}")
    print(
        "per-clip spread of the time means (before standardising): "
        f"video {sv.mean():.4f}, audio {sa.mean():.4f} (per-value std of a frame for comparison: "
        f"{dequantize(np.load(os.path.join(root, train[0], 'vfeat.npy'))).std():.3f})"
    )
    random = np.random.default_rng(0).normal(size=ya.shape)
    top1, top5, n = retrieval(random, ya)
    print(f"control (random predictions): top-1 {top1:.3f} top-5 {top5:.3f} over {n} queries")
    for lam in [float(x) for x in args.lams.split(",")]:
        w = np.linalg.solve(xv.T @ xv + lam * np.eye(xv.shape[1]), xv.T @ xa)
        top1, top5, n = retrieval(yv @ w, ya)
        print(f"ridge lambda {lam:g}: test top-1 {top1:.3f} top-5 {top5:.3f} ({n} queries, chance {1 / GROUP:.3f})")


if __name__ == "__main__":
    main()
