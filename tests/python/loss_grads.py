#!/usr/bin/env python3
"""Checks avc's training losses against their PyTorch formulas (tests/loss_grads.rs).

    python tests/python/loss_grads.py MANIFEST.json

Each case is a safetensors file avc wrote: the inputs (`in.0`, `in.1`), the loss avc
computed (`out`) and its gradients (`grad.in.0`, `grad.in.1`), with the loss's settings in
the manifest. The references are written here from the definitions, independently of avc's
code: BCE with label smoothing is PyTorch's `binary_cross_entropy_with_logits` on smoothed
targets; InfoNCE is CLIP's symmetric cross-entropy (or one direction of it) with a fixed or a
learned temperature, whose log scale `in.scale` gets a gradient too; the triplet losses mine their negatives with plain Python loops over the cosine
distance matrix (FaceNet's semi-hard rule, with TensorFlow Addons' fallback to the farthest
negative) and average both directions. Prints one JSON line per case; a value agrees when
|avc - torch| <= tol * max(1, |torch|) (tol 1e-6 by default, in float64 for the reference).
"""

import json
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file


def bce(logits, labels, s):
    return F.binary_cross_entropy_with_logits(logits.flatten(), labels * (1 - s) + s / 2)


def triplet_direction(d, margin, mining):
    n = d.shape[0]
    losses = []
    for i in range(n):
        pos = d[i, i]
        others = [j for j in range(n) if j != i]
        hardest = min(others, key=lambda j: d[i, j].item())
        if mining == "hardest":
            neg = hardest
        else:
            semi = [j for j in others if pos.item() < d[i, j].item() < pos.item() + margin]
            neg = min(semi, key=lambda j: d[i, j].item()) if semi else max(others, key=lambda j: d[i, j].item())
        losses.append(torch.clamp(pos - d[i, neg] + margin, min=0.0))
    return torch.stack(losses).mean()


def triplet(video, audio, margin, mining):
    v = video / video.norm(dim=1, keepdim=True).clamp(min=1e-8)
    a = audio / audio.norm(dim=1, keepdim=True).clamp(min=1e-8)
    d = 1 - v @ a.T
    return (triplet_direction(d, margin, mining) + triplet_direction(d.T, margin, mining)) / 2


def infonce(video, audio, log_scale, temperature, directions):
    """CLIP's loss (Radford et al. 2021, Figure 3): cosine logits times exp(log_scale) when
    the temperature is learned, else over the fixed temperature; cross-entropy of each row
    (video -> audio) and/or each column (audio -> video)."""
    v = video / video.norm(dim=1, keepdim=True).clamp(min=1e-8)
    a = audio / audio.norm(dim=1, keepdim=True).clamp(min=1e-8)
    cos = v @ a.T
    logits = cos * log_scale.exp() if log_scale is not None else cos / temperature
    target = torch.arange(logits.shape[0])
    rows = F.cross_entropy(logits, target)
    cols = F.cross_entropy(logits.T, target)
    return {"both": (rows + cols) / 2, "v2a": rows, "a2v": cols}[directions]


def check(case, tol):
    t = load_file(case["file"])
    x0 = t["in.0"].double().requires_grad_(True)
    x1 = t["in.1"].double().requires_grad_(case["loss"] != "bce")
    scale = t["in.scale"].double().requires_grad_(True) if "in.scale" in t else None
    if case["loss"] == "bce":
        ref = bce(x0, x1, case["label_smoothing"])
    elif case["loss"] == "infonce":
        ref = infonce(x0, x1, scale, case["temperature"], case["directions"])
    else:
        ref = triplet(x0, x1, case["margin"], case["mining"])
    ref.backward()
    diffs = {"out": (t["out"].double() - ref.detach()).abs().item() / max(1.0, ref.abs().item())}
    grads = [("grad.in.0", x0)] + ([("grad.in.1", x1)] if x1.requires_grad else [])
    if scale is not None:
        grads.append(("grad.in.scale", scale))
    for name, x in grads:
        scale = x.grad.abs().clamp(min=1.0)
        diffs[name] = ((t[name].double() - x.grad).abs() / scale).max().item()
    ok = all(v <= tol for v in diffs.values())
    return {"name": case["name"], "ok": ok, "diffs": diffs, "loss": ref.item()}


def main():
    manifest = json.load(open(sys.argv[1]))
    tol = manifest.get("tol", 1e-6)
    for case in manifest["cases"]:
        print(json.dumps(check(case, tol)))


if __name__ == "__main__":
    main()
