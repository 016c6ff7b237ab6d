#!/usr/bin/env python3
"""Checks avc's ops against PyTorch's, values and gradients (tests/torch_grads.rs).

    python tests/python/op_grads.py MANIFEST.json

The manifest lists cases; each names a safetensors file that avc wrote holding the inputs it
ran on (`in.0`, `in.1`, ...), its variables (`param.<name>`), its output (`out`), the
cotangent it back-propagated (`cot`) and the gradients it got (`grad.in.<i>`,
`grad.param.<name>`), and a PyTorch expression over `x0`, `x1`, ... and `p["<name>"]`
(with `torch`, `F` = torch.nn.functional and `math` in scope) that computes the same
thing. This script recomputes output and gradients with PyTorch's autograd and prints one
JSON line per case: its name, whether it agrees, and the largest differences. A value
agrees when |avc - torch| <= tol * max(1, |torch|) elementwise (tol from the manifest,
1e-5 by default). Needs torch and safetensors (both in the venv scripts/libtorch.sh
makes).
"""

import json
import math
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file


def worst(avc, ref, tol):
    """The largest scaled difference, and whether it is within tolerance."""
    if avc.shape != ref.shape:
        return float("inf"), False
    scale = ref.abs().clamp(min=1.0)
    diff = ((avc - ref).abs() / scale).max().item() if ref.numel() else 0.0
    return diff, diff <= tol


def check(case, tol):
    t = load_file(case["file"])
    n_in = sum(1 for k in t if k.startswith("in."))
    xs = [t[f"in.{i}"].clone().requires_grad_(t[f"in.{i}"].is_floating_point()) for i in range(n_in)]
    p = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    scope = {"torch": torch, "F": F, "math": math, "p": p}
    scope.update({f"x{i}": x for i, x in enumerate(xs)})
    out = eval(case["torch"], scope)  # noqa: S307 (expressions written by the test suite)
    result = {"name": case["name"], "ok": True, "diffs": {}}

    def compare(label, avc, ref):
        diff, ok = worst(avc, ref.detach(), tol)
        result["diffs"][label] = diff
        if not ok:
            result["ok"] = False

    compare("out", t["out"], out)
    if "cot" in t:
        (out * t["cot"]).sum().backward()
        for i, x in enumerate(xs):
            if f"grad.in.{i}" in t:
                ref = x.grad if x.grad is not None else torch.zeros_like(x)
                compare(f"grad.in.{i}", t[f"grad.in.{i}"], ref)
        for name, v in p.items():
            if f"grad.param.{name}" in t:
                ref = v.grad if v.grad is not None else torch.zeros_like(v)
                compare(f"grad.param.{name}", t[f"grad.param.{name}"], ref)
    return result


def main():
    manifest = json.load(open(sys.argv[1]))
    tol = manifest.get("tol", 1e-5)
    torch.manual_seed(0)
    for case in manifest["cases"]:
        try:
            result = check(case, case.get("tol", tol))
        except Exception as e:  # a bad expression is a failed case, not a crash
            result = {"name": case["name"], "ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
