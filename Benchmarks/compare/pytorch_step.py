"""The training step `bench speed` times, written in PyTorch, for a side-by-side comparison.

784-400-400-10 MLP (nn.Linear + ReLU, PyTorch's default initialisation), softmax cross-entropy,
plain SGD (lr 0.01), batch 128, one thread. Like `bench speed`, every step draws its rows from
8,192 synthetic 28×28 uint8 images (a fresh random order each pass), converts them to float in
[0, 1] and takes one optimizer step; training samples per second are the median of `--repeats`
rounds of `--steps` steps after one warm-up round.

Prints `train_samples_per_s: N` as `bench speed` does, so Benchmarks/compare/side_by_side.py can
read both. Run it with an interpreter that has torch (see the README's speed section).
"""
import argparse
import os

# One thread everywhere, before torch loads its thread pools.
for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(name, "1")

import statistics
import time

import torch
import torch.nn.functional as F


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="400,400", help="hidden widths, e.g. 400,400")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100, help="steps per round")
    parser.add_argument("--repeats", type=int, default=5, help="rounds (the median is reported)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    train = 8192
    images = torch.randint(0, 256, (train, 784), dtype=torch.uint8)
    labels = torch.randint(0, 10, (train,), dtype=torch.int64)
    widths = [784] + [int(w) for w in args.hidden.split(",")] + [10]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    order = torch.randperm(train)
    position = 0

    def step():
        nonlocal order, position
        if position + args.batch_size > train:
            order = torch.randperm(train)
            position = 0
        rows = order[position:position + args.batch_size]
        position += args.batch_size
        x = images[rows].float().div_(255)
        y = labels[rows]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    def round_samples_per_second():
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        return args.steps * args.batch_size / (time.perf_counter() - t0)

    round_samples_per_second()  # warm-up
    rates = [round_samples_per_second() for _ in range(args.repeats)]
    print(f"torch: {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"784-{'-'.join(map(str, widths[1:-1]))}-10, batch {args.batch_size}, SGD")
    print(f"train_samples_per_s: {statistics.median(rates):.0f}")


if __name__ == "__main__":
    main()
