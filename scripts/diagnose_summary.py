#!/usr/bin/env python3
"""Looks inside a per-modality summary model (meanpool, dual_cnn) trained by avc: why does
it learn or not? docs/results.md ("Why the per-modality summaries stayed at chance") uses it.

    avc export RUN --checkpoint last -o W.safetensors
    python scripts/diagnose_summary.py inspect MODEL W.safetensors DATA_DIR [--clips 64] [--seed 1]
    python scripts/diagnose_summary.py trace MODEL DATA_DIR [--lr 0.005] [--steps 120] [--center]

MODEL is meanpool or dual_cnn (torch.nn twins of the architecture files, written like
tests/python/torch_twins.py, whose names match `avc export`), or meanpool_plain or
dual_cnn_plain: the files as they were before each tower's summary got its batch norm
(`git show 64ae742:architectures/meanpool.avc`), which are what docs/results.md diagnoses.
DATA_DIR is in the course's layout (`avc data synth --out DIR`).

`inspect` loads avc's weights; on one batch of training clips, doubled with shuffled pairs
as avc's harness does, it prints:

* the tower summaries (what each modality hands to the joint part): the spread of each unit
  across clips against its mean over clips (the per-clip content a head can read, against
  a constant it cannot use);
* each ReLU/LeakyReLU in the head: the share of units whose input is negative for every
  pair (dead on the batch), positive for every pair (linear on the batch) or of both signs
  (bending). A head whose units all keep one sign over the data is an affine function of
  the concatenated summaries, `w.v + u.a + c`, which scores a shuffled pair exactly like
  a matched one on average: BCE stays at ln 2;
* the logit's mean and spread over pairs, and how well it separates matched from shuffled
  pairs (AUC), in training mode (batch statistics) and evaluation mode (running ones);
* each batch norm's running statistics against the batch's own;
* the gradient norm of every weight under the BCE loss of the batch (training mode).

`trace` trains the twin itself (avc's recipe: Xavier-uniform weights, Adam, batches of 64
clips doubled with shuffled pairs) and prints every 10 steps the BCE and AUC of the batch,
the video summary's part shared by the batch's clips (|mean over clips| per unit) against
its spread across clips, how far the shared part moved per step, and the share of each head
layer's units that are dead, linear or bending on the batch. `--center` subtracts the
features' mean (over the first 256 training clips) first. A twin, not avc: it shows the
mechanism; avc's own runs give the numbers in docs/results.md.

Needs torch, numpy and safetensors (the venv of scripts/libtorch.sh has them).
"""

import argparse
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))
from torch_twins import ConvBlock  # noqa: E402


class Trace:
    """Named intermediate values of one forward pass."""

    def __init__(self):
        self.values = {}

    def __call__(self, name, x):
        self.values[name] = x
        return x


class Meanpool(nn.Module):
    """architectures/synthetic-only/meanpool.avc; without `norm`, the file before its batch norms (`meanpool_plain`)."""

    def __init__(self, h=64, norm=False):
        super().__init__()
        self.norm = norm
        self.vproj, self.aproj = nn.Linear(1024, h), nn.Linear(128, h)
        if norm:
            self.vnorm, self.anorm = nn.BatchNorm1d(h, affine=False), nn.BatchNorm1d(h, affine=False)
        self.fc0, self.fc1, self.head = nn.Linear(2 * h, h), nn.Linear(h, h), nn.Linear(h, 1)
        self.drop = nn.Dropout(0.5)

    def towers(self, video, audio, t):
        v, a = self.vproj(video).mean(1), self.aproj(audio).mean(1)
        if self.norm:
            v, a = self.vnorm(v), self.anorm(a)
        return t("video summary", v), t("audio summary", a)

    def joint(self, v, a, t):
        x = t("fc0 (pre-activation)", self.fc0(torch.cat([v, a], -1)))
        x = t("fc1 (pre-activation)", self.fc1(F.leaky_relu(x, 0.01)))
        return self.head(self.drop(F.leaky_relu(x, 0.01)))


class DualCnn(nn.Module):
    """architectures/synthetic-only/dual_cnn.avc; without `norm`, the file before its batch norms (`dual_cnn_plain`)."""

    def __init__(self, h=64, norm=False):
        super().__init__()
        self.norm = norm
        self.vimg_linear, self.aimg_linear = nn.Linear(1024, h), nn.Linear(128, h)
        self.v1, self.v2, self.v3 = ConvBlock(1, 8, 2), ConvBlock(8, 16, 2), ConvBlock(16, 16, 4)
        self.a1, self.a2, self.a3 = ConvBlock(1, 8, 2), ConvBlock(8, 16, 2), ConvBlock(16, 16, 4)
        self.vvec, self.avec = nn.Linear(16 * 7 * 4, h), nn.Linear(16 * 7 * 4, h)
        if norm:
            self.vnorm, self.anorm = nn.BatchNorm1d(h, affine=False), nn.BatchNorm1d(h, affine=False)
        self.fc1, self.head = nn.Linear(2 * h, h), nn.Linear(h, 1)
        self.drop = nn.Dropout(0.5)

    def towers(self, video, audio, t):
        def tower(x, lin, blocks, vec, name):
            x = lin(x).unsqueeze(1)
            for k, b in enumerate(blocks, 1):
                x = t(f"{name}{k} (pooled)", b(x))
            return vec(x.flatten(1))

        v = tower(video, self.vimg_linear, [self.v1, self.v2, self.v3], self.vvec, "v")
        a = tower(audio, self.aimg_linear, [self.a1, self.a2, self.a3], self.avec, "a")
        if self.norm:
            v, a = self.vnorm(v), self.anorm(a)
        return t("video summary", v), t("audio summary", a)

    def joint(self, v, a, t):
        x = t("fc1 (pre-activation)", self.fc1(torch.cat([v, a], -1)))
        return self.head(self.drop(F.relu(x)))


MODELS = {
    "meanpool": lambda: Meanpool(norm=True),
    "meanpool_plain": lambda: Meanpool(),
    "dual_cnn": lambda: DualCnn(norm=True),
    "dual_cnn_plain": lambda: DualCnn(),
}


def dequantize(q):
    return q.astype(np.float32) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)


def batch(root, clips, seed):
    with open(os.path.join(root, "train.txt"), encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ids), size=clips, replace=False)
    load = lambda name: torch.from_numpy(np.stack([dequantize(np.load(os.path.join(root, ids[i], name))) for i in pick]))
    # avc's pairs: clip i with its own audio, then clip i with the audio of a shuffled clip.
    shuffled = rng.permutation(clips)
    audio_rows = torch.from_numpy(np.concatenate([np.arange(clips), shuffled]))
    video_rows = torch.arange(2 * clips) % clips
    labels = (video_rows == audio_rows).float()
    return load("vfeat.npy"), load("afeat.npy"), video_rows, audio_rows, labels


def auc(scores, labels):
    pos, neg = scores[labels > 0.5], scores[labels < 0.5]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).float().mean() + 0.5 * (pos[:, None] == neg[None, :]).float().mean()
    return greater.item()


def forward(model, video, audio, video_rows, audio_rows):
    t = Trace()
    v, a = model.towers(video, audio, t)
    logit = model.joint(v[video_rows], a[audio_rows], t).squeeze(-1)
    return logit, t.values


def varying_share(x):
    """The share of x's second moment (per unit, over the batch's rows) that varies across rows."""
    return (x.var(0).sum() / x.pow(2).mean(0).sum()).item()


def summaries(values):
    print("tower summaries (per unit, over the batch's clips):")
    for name in ("video summary", "audio summary"):
        x = values[name].detach()
        spread, level = x.std(0), x.mean(0).abs()
        print(
            f"  {name}: spread across clips {spread.mean():.4f} (median unit {spread.median():.4f}), "
            f"|mean over clips| {level.mean():.4f}; share of the second moment that varies across clips "
            f"{varying_share(x):.3f}"
        )
    # dual_cnn: what the summary's linear layer reads (the last block's pooled maps, flattened).
    for name in ("v3 (pooled)", "a3 (pooled)"):
        if name in values:
            x = values[name].detach().flatten(1)
            print(
                f"  input of the {name[0]} summary's linear layer ({name}, {x.shape[1]} values): "
                f"positive {(x > 0).float().mean():.3f}, mean {x.mean():.3f}, spread across clips "
                f"{x.std(0).mean():.3f}; share of the second moment that varies across clips {varying_share(x):.3f}"
            )


def activations(values):
    print("head activations (per unit, over the batch's pairs):")
    for name, x in values.items():
        if "pre-activation" not in name:
            continue
        x = x.detach()
        dead = (x <= 0).all(0).float().mean().item()
        linear = (x > 0).all(0).float().mean().item()
        print(
            f"  {name}: dead {dead:.2f}, linear (always positive) {linear:.2f}, bending {1 - dead - linear:.2f}; "
            f"pre-activation mean {x.mean():.3f}, spread across pairs {x.std(0).mean():.3f}"
        )


def norms(model, video, audio):
    rows = []
    t = Trace()
    captured = {}

    def hook(name):
        def f(module, inputs, output):
            x = inputs[0]
            dims = [0] + list(range(2, x.dim()))
            captured[name] = (x.mean(dims), x.var(dims, unbiased=False))

        return f

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.train()
    with torch.no_grad():
        model.towers(video, audio, t)
    for h in handles:
        h.remove()
    for name, (mean, var) in captured.items():
        m = dict(model.named_modules())[name]
        rows.append(
            f"  {name}: batch mean {mean.mean():+.3f} vs running {m.running_mean.mean():+.3f} "
            f"(max |diff| / batch std {((mean - m.running_mean).abs() / var.sqrt().clamp_min(1e-6)).max():.2f}); "
            f"batch var {var.mean():.3f} vs running {m.running_var.mean():.3f}"
        )
    if rows:
        print("batch norms (the batch's statistics against the running ones, averaged over channels):")
        print("\n".join(rows))


def gradients(model, video, audio, video_rows, audio_rows, labels):
    model.train()
    model.zero_grad()
    torch.manual_seed(0)
    logit, _ = forward(model, video, audio, video_rows, audio_rows)
    loss = F.binary_cross_entropy_with_logits(logit, labels)
    loss.backward()
    print(f"gradient norms (BCE {loss.item():.4f}, ln 2 = {np.log(2):.4f}):")
    for name, p in model.named_parameters():
        if p.grad is not None and name.endswith("weight"):
            print(f"  {name}: |grad| {p.grad.norm():.2e}, |w| {p.norm():.2e}")


def inspect(args):
    model = MODELS[args.model]()
    model.load_state_dict(load_file(args.weights), strict=True)
    video, audio, vr, ar, labels = batch(args.data, args.clips, args.seed)
    print(f"{args.model} from {args.weights} on {args.clips} clips of {args.data}")
    for mode in ("train", "eval"):
        getattr(model, mode)()
        torch.manual_seed(0)
        with torch.no_grad():
            logit, values = forward(model, video, audio, vr, ar)
        print(
            f"[{mode} mode] logit mean {logit.mean():+.3f}, spread over pairs {logit.std():.3f}, "
            f"AUC matched vs shuffled {auc(logit, labels):.3f}, "
            f"BCE {F.binary_cross_entropy_with_logits(logit, labels):.4f}"
        )
        if mode == "eval":
            summaries(values)
            activations(values)
    norms(model, video, audio)
    gradients(model, video, audio, vr, ar, labels)


def xavier(model):
    """avc's initialisation: Xavier-uniform weights, biases uniform in +-1/sqrt(fan_in)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)


def trace(args):
    root = args.data
    with open(os.path.join(root, "train.txt"), encoding="utf-8") as f:
        ids = [line.strip() for line in f if line.strip()]
    video = np.stack([np.load(os.path.join(root, i, "vfeat.npy")) for i in ids])
    audio = np.stack([np.load(os.path.join(root, i, "afeat.npy")) for i in ids])
    deq = lambda q: torch.from_numpy(dequantize(q))
    vmean = deq(video[:256]).mean((0, 1)) if args.center else 0.0
    amean = deq(audio[:256]).mean((0, 1)) if args.center else 0.0
    torch.manual_seed(args.seed)
    model = MODELS[args.model]()
    xavier(model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    clips = 64
    video_rows = torch.arange(2 * clips) % clips
    previous = None
    print(f"{args.model} trained on {root} (Adam, lr {args.lr}{', centred features' if args.center else ''})")
    for step in range(args.steps):
        pick = rng.choice(len(ids), size=clips, replace=False)
        audio_rows = torch.from_numpy(np.concatenate([np.arange(clips), rng.permutation(clips)]))
        labels = (video_rows == audio_rows).float()
        logit, values = forward(model, deq(video[pick]) - vmean, deq(audio[pick]) - amean, video_rows, audio_rows)
        loss = F.binary_cross_entropy_with_logits(logit, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            v = values["video summary"]
            shared = v.mean(0)
            moved = float("nan") if previous is None else (shared - previous).pow(2).mean().sqrt().item()
            previous = shared.clone()
            if step % 10 and step != args.steps - 1:
                continue
            layers = []
            for name, x in values.items():
                if "pre-activation" in name:
                    dead, linear = (x <= 0).all(0).float().mean().item(), (x > 0).all(0).float().mean().item()
                    layers.append(f"{name.split()[0]} dead/linear/bending {dead:.2f}/{linear:.2f}/{1 - dead - linear:.2f}")
            print(
                f"step {step:4d}: BCE {loss.item():.4f}, AUC {auc(logit.detach(), labels):.3f}; video summary "
                f"|shared| {shared.abs().mean():.3f}, spread {v.std(0).mean():.3f}, moved {moved:.3f}/step; "
                + "; ".join(layers),
                flush=True,
            )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    one = sub.add_parser("inspect", help="look inside avc's trained weights")
    one.add_argument("model", choices=sorted(MODELS))
    one.add_argument("weights")
    one.add_argument("data")
    one.add_argument("--clips", type=int, default=64)
    one.add_argument("--seed", type=int, default=1)
    run = sub.add_parser("trace", help="train the twin and trace what its head sees")
    run.add_argument("model", choices=sorted(MODELS))
    run.add_argument("data")
    run.add_argument("--lr", type=float, default=0.005)
    run.add_argument("--steps", type=int, default=120)
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--center", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.command == "inspect":
        inspect(args)
    else:
        trace(args)


if __name__ == "__main__":
    main()
