#!/usr/bin/env python3
"""The ridge baseline of scripts/ridge_baseline.py (time-averaged video -> time-averaged audio,
cosine), reported as `avc eval` reports: full N-way and 30-way groups, both directions, with
avc's bootstrap intervals (scripts/retrieval_metrics.py).

ridge_baseline.py gives 30-way top-1 and top-5 only, without intervals; this one reuses its
features and fit, chooses lambda on a validation share of the training clips (not on the
test pairs), and scores every test video against every test audio.

    python scripts/ridge_full.py DIR [--lambda 0.1,1,10,100,1000] [--scores-out DIR2] [--json FILE]

Needs numpy.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retrieval_metrics as rm  # noqa: E402
from ridge_baseline import pooled, read_list  # noqa: E402


def fit(xv, xa, lam):
    return np.linalg.solve(xv.T @ xv + lam * np.eye(xv.shape[1]), xv.T @ xa)


def cosine(p, a):
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return unit(p) @ unit(a).T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--lambda", dest="lams", default="0.1,1,10,100,1000,10000")
    ap.add_argument("--val", type=float, default=0.2, help="share of training clips to choose lambda on")
    ap.add_argument("--scores-out")
    ap.add_argument("--json")
    args = ap.parse_args()
    root = args.dir
    train = read_list(os.path.join(root, "train.txt"))
    tv, ta = read_list(os.path.join(root, "test_video.txt")), read_list(os.path.join(root, "test_audio.txt"))
    xv, xa = pooled(root, train, "vfeat"), pooled(root, train, "afeat")
    yv, ya = pooled(root, tv, "vfeat"), pooled(root, ta, "afeat")
    mv, sv = xv.mean(0), xv.std(0) + 1e-6
    ma, sa = xa.mean(0), xa.std(0) + 1e-6
    xv, yv = (xv - mv) / sv, (yv - mv) / sv
    xa, ya = (xa - ma) / sa, (ya - ma) / sa
    order = np.random.default_rng(0).permutation(len(train))
    nval = int(len(train) * args.val)
    val, fit_idx = order[:nval], order[nval:]
    print(f"ridge on time means, {root}: {len(train)} training clips ({nval} to choose lambda), {len(tv)} test pairs")
    best = None
    for lam in [float(x) for x in args.lams.split(",")]:
        w = fit(xv[fit_idx], xa[fit_idx], lam)
        full, grouped = rm.true_ranks(cosine(xv[val] @ w, xa[val]))
        mrr = (1.0 / full).mean()
        print(f"  lambda {lam:g}: validation full-N MRR {mrr:.4f} (top-1 {(full == 1).mean():.3f} of {len(val)})")
        if best is None or mrr > best[1]:
            best = (lam, mrr)
    lam = best[0]
    w = fit(xv, xa, lam)
    scores = cosine(yv @ w, ya)
    result = rm.evaluate(scores)
    print(f"test, lambda {lam:g} refitted on all training clips:")
    print(rm.report(result))
    if args.scores_out:
        rm.write_scores(args.scores_out, scores, tv, ta, result, f"ridge_full lambda={lam:g}")
    if args.json:
        public = {d: {p: result[d][p] for p in ("full", "groups")} for d in ("v2a", "a2v")}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"system": "ridge_full", "lambda": lam, "data": root, **public}, f, indent=2)


if __name__ == "__main__":
    main()
