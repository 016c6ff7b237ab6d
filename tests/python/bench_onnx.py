"""The ONNX Runtime side of `cargo bench --bench eval -- --only o`: `final`'s 30 x 30
scoring from the graphs `avc export --to onnx` writes, the way a service would run them.

    python bench_onnx.py DIR --threads N --clips 30 --repeats R

DIR holds `model.onnx` (the whole graph) and `split/` (video_tower.onnx, audio_tower.onnx,
joint.onnx). `split`: each tower once per clip, then joint.onnx on all clips x clips pairs
(tower outputs repeated per pair, as the docs' serving example does); `whole`: every pair
through model.onnx, a video's 30 pairs per call. Features are random uint8 dequantized as
the course does. Prints one JSON object: the median seconds of each and the pair count.
"""

import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort

STEPS, VIDEO_DIM, AUDIO_DIM = 120, 1024, 128


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def clips(rng, n, dim):
    q = rng.integers(0, 256, size=(n, STEPS, dim), dtype=np.uint8)
    return (q.astype(np.float32) * (4 / 255) + (4 / 512 - 2)).astype(np.float32)


def encode(tower, x):
    names = [o.name for o in tower.get_outputs()]
    return dict(zip(names, tower.run(None, {tower.get_inputs()[0].name: x})))


def split_scores(towers, video, audio):
    video_tower, audio_tower, joint = towers
    n = video.shape[0]
    v, a = encode(video_tower, video), encode(audio_tower, audio)
    pairs = {k: np.repeat(x, n, axis=0) for k, x in v.items()}
    pairs.update({k: np.tile(x, (n,) + (1,) * (x.ndim - 1)) for k, x in a.items()})
    return joint.run(None, {i.name: pairs[i.name] for i in joint.get_inputs()})[0].reshape(n, n)


def whole_scores(model, video, audio):
    n = video.shape[0]
    rows = [model.run(None, {"video": np.repeat(video[i : i + 1], n, axis=0), "audio": audio})[0] for i in range(n)]
    return np.concatenate(rows).reshape(n, n)


def median_seconds(f, repeats):
    f()  # warm-up: the first call builds ONNX Runtime's kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--clips", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(1)
    video, audio = clips(rng, args.clips, VIDEO_DIM), clips(rng, args.clips, AUDIO_DIM)
    towers = [session(f"{args.dir}/split/{name}.onnx", args.threads) for name in ("video_tower", "audio_tower", "joint")]
    model = session(f"{args.dir}/model.onnx", args.threads)
    split, whole = split_scores(towers, video, audio), whole_scores(model, video, audio)
    # The two graphs must agree before their times mean anything.
    assert np.allclose(split, whole, atol=1e-4), float(np.abs(split - whole).max())
    print(
        json.dumps(
            {
                "split": median_seconds(lambda: split_scores(towers, video, audio), args.repeats),
                "whole": median_seconds(lambda: whole_scores(model, video, audio), args.repeats),
                "pairs": args.clips * args.clips,
                "max_split_whole_difference": float(np.abs(split - whole).max()),
            }
        )
    )


if __name__ == "__main__":
    main()
