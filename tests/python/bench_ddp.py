"""The PyTorch reference of `cargo bench --bench dist`: the torch.nn twin of `final` trained
with DistributedDataParallel on N local processes (Gloo, as avc's CPU jobs), the way a
PyTorch user would write it.

    python bench_ddp.py --nproc N --threads T --batches B --batch 64 --repeats R [--device cuda]

Each of B steps takes a global batch of `--batch` matched pairs, each rank its contiguous
share (as avc cuts a batch), doubled with shuffled pairs inside the share (the course's
pairs), BCE on the logit, Adam; DDP averages the gradients (25 MB buckets, overlapped with
the backward pass; NCCL with one GPU per rank under `--device cuda`). Features are random
uint8 dequantized as the course does. Rank 0 prints
one JSON object: the seconds of every repeat (B steps after a warm-up step) and the median.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_torch import AUDIO_DIM, VIDEO_DIM, clips, train_step  # noqa: E402
from torch_twins import Final  # noqa: E402


def rank_main(rank, args, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.set_device(rank)
        torch.set_default_device(f"cuda:{rank}")
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=args.nproc)
    torch.manual_seed(1)
    model = DistributedDataParallel(Final().train(), device_ids=[rank] if cuda else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    generator = torch.Generator(device=f"cuda:{rank}" if cuda else "cpu").manual_seed(1 + rank)
    share = args.batch // args.nproc + (1 if rank < args.batch % args.nproc else 0)
    batches = [(clips(share, VIDEO_DIM, generator), clips(share, AUDIO_DIM, generator)) for _ in range(2)]
    train_step(model, optimizer, *batches[0], generator)  # warm-up
    seconds = []
    for _ in range(args.repeats):
        dist.barrier()
        start = time.perf_counter()
        for i in range(args.batches):
            train_step(model, optimizer, *batches[i % 2], generator)
        dist.barrier()
        if cuda:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    if rank == 0:
        result = {
            "pairs": 2 * args.batch * args.batches,
            "seconds": seconds,
            "median": statistics.median(seconds),
            "nproc": args.nproc,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    mp.spawn(rank_main, args=(args, free_port()), nprocs=args.nproc, join=True)


if __name__ == "__main__":
    main()
