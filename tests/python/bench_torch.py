"""The PyTorch side of `cargo bench --bench eval`: eager PyTorch running the torch.nn twins
of torch_twins.py the way the course's harness did, every pair through the whole model.

    python bench_torch.py eval  --threads N --clips 30 --repeats R [--chunk C]
    python bench_torch.py train --threads N --batches B --batch 64 --repeats R

`eval` scores all clips x clips (video, audio) pairs of `final` (no_grad, eval mode), in
chunks of C pairs (default: all at once); `train` runs B training steps of `final` on the
course's pairs (a batch of matched pairs doubled with shuffled ones), BCE on the logit,
Adam. Features are random uint8 dequantized as the course does (timings do not depend on
the values). Prints one JSON object: the seconds of every repeat and the median.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_twins import Final  # noqa: E402

STEPS, VIDEO_DIM, AUDIO_DIM = 120, 1024, 128


def clips(n, dim, generator):
    q = torch.randint(0, 256, (n, STEPS, dim), generator=generator, dtype=torch.uint8)
    return q.float() * (4 / 255) + (4 / 512 - 2)


PRECISION = "fp32"


def autocast():
    """The forward pass's region: bf16 autocast on the CPU (`--precision bf16`), or none."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=PRECISION == "bf16")


def score_all(model, video, audio, chunk):
    """Every (video i, audio j) pair through the whole model; an [n, n] score matrix."""
    n = video.shape[0]
    vi = torch.arange(n).repeat_interleave(n)
    ai = torch.arange(n).repeat(n)
    scores = []
    with torch.no_grad():
        for start in range(0, n * n, chunk):
            rows = slice(start, start + chunk)
            with autocast():
                scores.append(model(video[vi[rows]], audio[ai[rows]]).flatten().float())
    return torch.cat(scores).reshape(n, n)


def bench_eval(args, generator):
    model = Final().eval()
    video, audio = clips(args.clips, VIDEO_DIM, generator), clips(args.clips, AUDIO_DIM, generator)
    chunk = args.chunk or args.clips * args.clips
    score_all(model, video, audio, chunk)  # warm-up
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        score_all(model, video, audio, chunk)
        seconds.append(time.perf_counter() - start)
    return {"pairs": args.clips * args.clips, "chunk": chunk, "seconds": seconds}


def train_step(model, optimizer, video, audio, generator):
    b = video.shape[0]
    shuffled = torch.randperm(b, generator=generator)
    audio_rows = torch.cat([torch.arange(b), shuffled])
    video_rows = torch.arange(2 * b) % b
    labels = (video_rows == audio_rows).float()
    with autocast():
        logits = model(video[video_rows], audio[audio_rows]).flatten()
    logits = logits.float()  # the loss in fp32, as avc computes it
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def bench_train(args, generator):
    model = Final().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    batches = [
        (clips(args.batch, VIDEO_DIM, generator), clips(args.batch, AUDIO_DIM, generator)) for _ in range(2)
    ]
    train_step(model, optimizer, *batches[0], generator)  # warm-up
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(args.batches):
            train_step(model, optimizer, *batches[i % 2], generator)
        seconds.append(time.perf_counter() - start)
    pairs = 2 * args.batch * args.batches
    return {"pairs": pairs, "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["eval", "train"])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=0)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    global PRECISION
    PRECISION = args.precision
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    generator = torch.Generator().manual_seed(1)
    result = bench_eval(args, generator) if args.mode == "eval" else bench_train(args, generator)
    result.update(mode=args.mode, threads=torch.get_num_threads(), torch=torch.__version__)
    result["median"] = statistics.median(result["seconds"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
