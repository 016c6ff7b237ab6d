"""Checks ONNX graphs written by `avc::export::onnx` against avc's own outputs.

Usage: onnx_check.py MANIFEST.json

The manifest lists cases: {"name", "whole": model.onnx, "split": directory or null,
"sample": safetensors with `video`, `audio` and `output.<name>` (or `output.<name>.video`
and `.audio` for embeddings), "nudge": bool}. For each case, onnx.checker.check_model passes
on every graph; ONNX Runtime runs the whole graph on the sample's clips and the split graphs
(towers once, their outputs fed into joint.onnx); every output must equal avc's within 1e-4
of the outputs' scale (their largest magnitude, at least 1). A case with "nudge" must instead
fail once one weight is moved by 1%: the comparison is not blind.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from safetensors.numpy import load_file

TOLERANCE = 1e-4


def session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def run(model, feeds):
    s = session(model)
    names = [o.name for o in s.get_outputs()]
    wanted = {i.name for i in s.get_inputs()}
    values = s.run(None, {k: v for k, v in feeds.items() if k in wanted})
    return dict(zip(names, values))


def difference(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"shape {got.shape}, avc's {want.shape}")
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    return float(np.abs(got - want).max()) / scale if want.size else 0.0


def expected(sample):
    """ONNX output name -> avc's values, for the whole graph and the joint graph."""
    whole, joint = {}, {}
    for key, value in sample.items():
        if not key.startswith("output."):
            continue
        name = key[len("output."):]
        whole[name] = value
        if name.endswith(".video") or name.endswith(".audio"):
            continue
        joint[name] = value
    # An embeddings output's score per pair is the dot product of its two embeddings.
    for name in list(whole):
        if name.endswith(".video") and name[:-6] + ".audio" in whole:
            base = name[:-6]
            joint[base] = (whole[name].astype(np.float64) * whole[base + ".audio"]).sum(-1)
    return whole, joint


def compare(outputs, want, label):
    worst = 0.0
    for name, got in outputs.items():
        if name not in want:
            continue
        d = difference(got, want[name])
        worst = max(worst, d)
    missing = [n for n in want if n not in outputs]
    return worst, missing


def check_case(case, whole_model=None):
    sample = load_file(case["sample"])
    feeds = {"video": sample["video"], "audio": sample["audio"]}
    want_whole, want_joint = expected(sample)
    model = whole_model or onnx.load(case["whole"])
    onnx.checker.check_model(model)
    worst, missing = compare(run(model, feeds), want_whole, "whole")
    if missing:
        raise AssertionError(f"whole graph lacks outputs {missing}")
    if case.get("split") and whole_model is None:
        d = case["split"]
        models = {p: onnx.load(f"{d}/{p}.onnx") for p in ("video_tower", "audio_tower", "joint")}
        for m in models.values():
            onnx.checker.check_model(m)
        towers = run(models["video_tower"], feeds)
        towers.update(run(models["audio_tower"], feeds))
        w, missing = compare(towers, want_whole, "towers")
        worst = max(worst, w)
        joint_inputs = [i.name for i in models["joint"].graph.input]
        absent = [n for n in joint_inputs if n not in towers]
        if absent:
            raise AssertionError(f"joint.onnx reads {absent}, which no tower writes")
        w, missing = compare(run(models["joint"], towers), want_joint, "joint")
        if missing:
            raise AssertionError(f"joint graph lacks outputs {missing}")
        worst = max(worst, w)
    return worst


def nudged(path):
    model = onnx.load(path)
    named = [t for t in model.graph.initializer if "/" not in t.name and t.data_type == 1]
    target = max(named, key=lambda t: np.prod(t.dims))
    values = numpy_helper.to_array(target)
    target.CopyFrom(numpy_helper.from_array((values * 1.01 + 0.01).astype(np.float32), target.name))
    return model, target.name


def main():
    cases = json.load(open(sys.argv[1]))
    failures, largest = [], (0.0, "")
    for case in cases:
        try:
            worst = check_case(case)
            largest = max(largest, (worst, case["name"]))
            ok = worst <= TOLERANCE
            print(f"{case['name']}: max abs difference {worst:.3g} of the outputs' scale")
            if not ok:
                failures.append(f"{case['name']}: differs by {worst:.3g}")
            if case.get("nudge"):
                model, weight = nudged(case["whole"])
                moved = check_case(case, whole_model=model)
                print(f"{case['name']}: with `{weight}` nudged by 1%, the difference is {moved:.3g}")
                if moved <= TOLERANCE:
                    failures.append(f"{case['name']}: a nudged `{weight}` still passes ({moved:.3g}): the check is blind")
        except Exception as e:  # noqa: BLE001 - every failure is reported with its case
            failures.append(f"{case['name']}: {type(e).__name__}: {e}")
    print(f"largest difference: {largest[0]:.3g} ({largest[1]}) over {len(cases)} cases")
    if failures:
        print("FAILED:\n" + "\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
