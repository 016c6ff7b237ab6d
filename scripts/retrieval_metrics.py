"""Retrieval metrics with the bootstrap intervals `avc eval` gives, for baselines written in
Python (scripts/sync_baseline.py, scripts/ridge_full.py).

The same definitions as src/eval (docs/eval.md): a query's rank is 1 + the candidates
whose score is at least the truth's (ties count against the model); the 30-way protocol
cuts the N pairs into floor(N / 30) consecutive groups of as equal sizes as possible (the
first N mod count one longer); top-k, MRR, median and mean rank; each with a 95% interval
from 1000 resamples of the queries with replacement, read at the 2.5th and 97.5th
percentiles with linear interpolation.

The resampling draws the same indices as avc: a ChaCha8 stream seeded by rand_core's
`seed_from_u64(seed)` (PCG32 expansion of the seed), each index drawn by rand 0.10's
`random_range(0..n)` for a usize below 2^32 (a 32-bit widening multiply with Canon's
correction). So the same ranks give avc's intervals to the last digit; `--check-avc EVALDIR`
of the baseline scripts compares against an evaluation's queries_*.csv and metrics.json.

Also writes a score directory `avc compare` reads (scores.npy, video_ids.txt,
audio_ids.txt, metrics.json with "better_scores"), so a baseline can be compared with a
trained run by a paired bootstrap.
"""

import csv
import json
import os

import numpy as np

GROUP = 30
MASK = np.uint64(0xFFFFFFFF)


# ------------------------------------------------------------------ avc's random stream


def _pcg32_seed(state):
    """rand_core 0.10 `seed_from_u64`: 32 seed bytes from a PCG32 stepped from `state`."""
    mul, inc, m64 = 0x5851F42D4C957F2D, 0xA17654E46FBE17F3, (1 << 64) - 1
    words = []
    for _ in range(8):
        state = (state * mul + inc) & m64
        xorshifted = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        words.append(((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & 0xFFFFFFFF)
    return np.array(words, np.uint32)  # little-endian bytes -> the same u32 words


def chacha_blocks(key, first, count, rounds=8):
    """`count` keystream blocks [count, 16] (uint32) from block `first`, stream 0."""
    const = np.array([0x61707865, 0x3320646E, 0x79622D32, 0x6B206574], np.uint32)
    ctr = np.arange(first, first + count, dtype=np.uint64)
    s = np.zeros((16, count), np.uint32)
    s[0:4] = const[:, None]
    s[4:12] = key[:, None]
    s[12] = (ctr & MASK).astype(np.uint32)
    s[13] = (ctr >> np.uint64(32)).astype(np.uint32)
    x = s.copy()

    def rotl(v, c):
        return (v << np.uint32(c)) | (v >> np.uint32(32 - c))

    def qr(a, b, c, d):
        x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 16)  # noqa: E702
        x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 12)  # noqa: E702
        x[a] += x[b]; x[d] = rotl(x[d] ^ x[a], 8)  # noqa: E702
        x[c] += x[d]; x[b] = rotl(x[b] ^ x[c], 7)  # noqa: E702

    with np.errstate(over="ignore"):
        for _ in range(rounds // 2):
            qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)  # noqa: E702
            qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)  # noqa: E702
        x += s
    return x.T


class ChaCha8:
    """rand_chacha's ChaCha8Rng: u32 words of the keystream in order."""

    def __init__(self, seed):
        self.key = _pcg32_seed(seed)
        self.buf = np.zeros(0, np.uint32)
        self.pos = 0
        self.block = 0

    def words(self, n):
        while len(self.buf) - self.pos < n:
            count = max(64, (n - (len(self.buf) - self.pos)) // 16 + 1)
            more = chacha_blocks(self.key, self.block, count).ravel()
            self.block += count
            self.buf = np.concatenate([self.buf[self.pos :], more])
            self.pos = 0
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def resample_indices(n, resamples, seed):
    """[resamples, n] indices as avc's bootstrap draws them (`random_range(0..n)`)."""
    assert 0 < n < 2**32
    rng = ChaCha8(seed)
    rng_range = np.uint64(n)
    thresh = np.uint64((2**32 - n) % 2**32)  # range.wrapping_neg() as u32
    out = np.empty((resamples, n), np.int64)
    for r in range(resamples):
        w = rng.words(n).astype(np.uint64) * rng_range
        hi, lo = w >> np.uint64(32), w & MASK
        if not (lo > thresh).any():
            out[r] = hi
            continue
        # Rare (probability n / 2^32 a draw): Canon's correction draws one more word; go
        # one draw at a time from the first such draw on.
        rng.pos -= n
        row = []
        for _ in range(n):
            (x,) = rng.words(1)
            m = int(x) * n
            h, l = m >> 32, m & 0xFFFFFFFF
            if l > (2**32 - n) % 2**32:
                (y,) = rng.words(1)
                if l + ((int(y) * n) >> 32) > 0xFFFFFFFF:
                    h += 1
            row.append(h)
        out[r] = row
    return out


# ------------------------------------------------------------------ metrics


def groups(n):
    """avc's consecutive groups of about 30 (src/eval/mod.rs `groups`)."""
    count = max(n // GROUP, 1)
    base, extra = n // count, n % count
    out, start = [], 0
    for g in range(count):
        size = base + (1 if g < extra else 0)
        if size:
            out.append((start, start + size))
        start += size
    return out


def true_ranks(scores, higher_is_better=True):
    """(full, grouped) 1-based ranks of the diagonal per row; ties and NaN count against."""
    s = np.asarray(scores, np.float64)
    if not higher_is_better:
        s = -s
    truth = np.diag(s)[:, None]
    beats = (s >= truth) | np.isnan(s)
    np.fill_diagonal(beats, False)
    full = 1 + beats.sum(axis=1)
    grouped = np.empty(len(s), np.int64)
    for a, b in groups(len(s)):
        grouped[a:b] = 1 + beats[a:b, a:b].sum(axis=1)
    nan_truth = np.isnan(np.diag(s))
    full[nan_truth] = len(s)
    for a, b in groups(len(s)):
        grouped[a:b][nan_truth[a:b]] = b - a
    return full.astype(np.int64), grouped


NAMES = ["top1", "top5", "top10", "mrr", "median_rank", "mean_rank"]


def point(ranks):
    """The six values on rows of ranks: [..., n] -> [..., 6]."""
    r = np.asarray(ranks, np.float64)
    return np.stack(
        [(r <= 1).mean(-1), (r <= 5).mean(-1), (r <= 10).mean(-1), (1.0 / r).mean(-1), np.median(r, -1), r.mean(-1)], -1
    )


_INDEX_CACHE = {}


def metrics(ranks, candidates, resamples=1000, seed=0, level=0.95):
    """Like src/eval/metrics.rs `metrics`: {name: {value, low, high}}, queries, candidates."""
    ranks = np.asarray(ranks, np.int64)
    key = (len(ranks), resamples, seed)
    if key not in _INDEX_CACHE:
        _INDEX_CACHE[key] = resample_indices(len(ranks), resamples, seed)
    boot = point(ranks[_INDEX_CACHE[key]])  # [resamples, 6]
    value = point(ranks)
    tail = (1 - level) / 2
    out = {}
    for k, name in enumerate(NAMES):
        lo, hi = np.percentile(boot[:, k], [100 * tail, 100 * (1 - tail)])
        out[name] = {"value": float(value[k]), "low": float(lo), "high": float(hi)}
    out["queries"], out["candidates"] = len(ranks), int(candidates)
    return out


def evaluate(scores, higher_is_better=True, resamples=1000, seed=0):
    """Both directions, both protocols, as avc eval's metrics.json lays them out."""
    s = np.asarray(scores, np.float64)
    result = {}
    for direction, m in (("v2a", s), ("a2v", s.T)):
        full, grouped = true_ranks(m, higher_is_better)
        largest = max(b - a for a, b in groups(len(m)))
        result[direction] = {
            "full": metrics(full, len(m), resamples, seed),
            "groups": metrics(grouped, largest, resamples, seed),
            "_full_ranks": full,
            "_group_ranks": grouped,
        }
    return result


def line(direction, protocol, m):
    pct = lambda i: f"{100 * i['value']:.1f}% [{100 * i['low']:.1f}, {100 * i['high']:.1f}]"
    name = "full  " if protocol == "full" else "30-way"
    return (
        f"{direction} {name} top-1 {pct(m['top1'])}  top-5 {pct(m['top5'])}  top-10 {pct(m['top10'])}  "
        f"MRR {m['mrr']['value']:.3f} [{m['mrr']['low']:.3f}, {m['mrr']['high']:.3f}]  "
        f"median rank {m['median_rank']['value']:g} (of {m['candidates']}, {m['queries']} queries)"
    )


def report(result):
    return "\n".join(line(d, p, result[d][p]) for d in ("v2a", "a2v") for p in ("full", "groups"))


def write_scores(out, scores, video_ids, audio_ids, result, name):
    """A directory `avc compare` accepts as another system's scores."""
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "scores.npy"), np.asarray(scores, np.float32))
    for fname, ids in (("video_ids.txt", video_ids), ("audio_ids.txt", audio_ids)):
        with open(os.path.join(out, fname), "w", encoding="utf-8") as f:
            f.write("".join(i + "\n" for i in ids))
    public = {d: {p: result[d][p] for p in ("full", "groups")} for d in ("v2a", "a2v")}
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump({"system": name, "better_scores": "higher", "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95}, **public}, f, indent=2)
        f.write("\n")


def check_against_avc(evaldir):
    """Recompute an `avc eval` directory's intervals from its per-query ranks; returns the
    largest absolute difference from its metrics.json (0 when this module matches avc)."""
    with open(os.path.join(evaldir, "metrics.json"), encoding="utf-8") as f:
        theirs = json.load(f)
    worst = 0.0
    for direction in ("v2a", "a2v"):
        with open(os.path.join(evaldir, f"queries_{direction}.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        for protocol, col in (("full", "rank"), ("groups", "group_rank")):
            ranks = [int(r[col]) for r in rows]
            t = theirs[direction][protocol]
            mine = metrics(ranks, t["candidates"])
            for name in NAMES:
                for part in ("value", "low", "high"):
                    worst = max(worst, abs(mine[name][part] - t[name][part]))
    return worst
