#!/usr/bin/env python3
"""A hand-made synchrony baseline: does the picture change when the sound changes?

Nothing is learned. Per test clip and step:

- audio change: the mean over bands of |a[t] - a[t-1]| (spectral flux of the dequantized
  log-mel features, both directions: openings and closings of the mouth both show);
- video change: the mean over values of |v[t] - v[t-1]| (frame-difference energy of the
  whole picture: mouth, blinks, sway, jitter and distractors alike).

Both series are standardised per clip; a video's score against an audio is the best Pearson
correlation of the two over lags -L..L steps (the video shifted against the audio, the
overlap only). Every test video is scored against every test audio (line i of
test_video.txt and test_audio.txt is a true pair), and ranked with avc's definitions and
bootstrap (scripts/retrieval_metrics.py): full N-way and 30-way groups, both directions,
95% intervals from avc's own resampling stream.

    python scripts/sync_baseline.py DIR [--lags 3] [--scores-out DIR2] [--json FILE] [--check-avc EVALDIR]

--scores-out writes a directory `avc compare` reads (scores.npy, ids, metrics.json), so the
baseline can be compared with a trained run's evaluation by a paired bootstrap. Needs numpy.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retrieval_metrics as rm  # noqa: E402


def dequantize(q):
    return q.astype(np.float32) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)


def read_list(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def change(x):
    """[T, D] features -> [T-1] mean absolute step-to-step change, standardised."""
    d = np.abs(np.diff(x, axis=0)).mean(axis=1)
    return (d - d.mean()) / (d.std() + 1e-6)


def lagged_correlation(v, a, lags):
    """[Nv, T], [Na, T] standardised series -> [Nv, Na] best correlation over lags."""
    t = v.shape[1]
    best = np.full((len(v), len(a)), -np.inf, np.float32)
    for lag in range(-lags, lags + 1):
        # video step t + lag against audio step t
        vs = v[:, max(lag, 0) : t + min(lag, 0)]
        as_ = a[:, max(-lag, 0) : t - max(lag, 0)]
        vs = (vs - vs.mean(1, keepdims=True)) / (vs.std(1, keepdims=True) + 1e-6)
        as_ = (as_ - as_.mean(1, keepdims=True)) / (as_.std(1, keepdims=True) + 1e-6)
        best = np.maximum(best, (vs @ as_.T) / vs.shape[1])
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--lags", type=int, default=3, help="largest shift tried, in steps (default 3)")
    ap.add_argument("--scores-out", help="write scores for `avc compare` here")
    ap.add_argument("--json", help="write the metrics here")
    ap.add_argument("--check-avc", metavar="EVALDIR", help="first check the bootstrap against an `avc eval` directory")
    args = ap.parse_args()
    if args.check_avc:
        worst = rm.check_against_avc(args.check_avc)
        print(f"bootstrap check against {args.check_avc}: largest difference {worst:.3g}")
    tv = read_list(os.path.join(args.dir, "test_video.txt"))
    ta = read_list(os.path.join(args.dir, "test_audio.txt"))
    if len(tv) != len(ta):
        sys.exit("test lists of different lengths")
    v = np.stack([change(dequantize(np.load(os.path.join(args.dir, i, "vfeat.npy")))) for i in tv])
    a = np.stack([change(dequantize(np.load(os.path.join(args.dir, i, "afeat.npy")))) for i in ta])
    scores = lagged_correlation(v, a, args.lags)
    result = rm.evaluate(scores)
    print(f"synchrony baseline (lags +-{args.lags}) on {args.dir}: {len(tv)} test pairs")
    print(rm.report(result))
    if args.scores_out:
        rm.write_scores(args.scores_out, scores, tv, ta, result, f"sync_baseline lags={args.lags}")
    if args.json:
        public = {d: {p: result[d][p] for p in ("full", "groups")} for d in ("v2a", "a2v")}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"system": "sync_baseline", "lags": args.lags, "data": args.dir, **public}, f, indent=2)


if __name__ == "__main__":
    main()
