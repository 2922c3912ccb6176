"""`bench speed` and the same step in PyTorch, run interleaved (A B A B …), on one thread each.

    python3 Benchmarks/compare/side_by_side.py --python /path/to/venv/bin/python [--rounds 5]

A is `bench speed --threads 1` (784-400-400-10, SGD, batch 128; its median of `--repeats` rounds
of `--steps` steps), B is `pytorch_step.py` beside this file (the same step, same sizes, same
median), run by `--python` (an interpreter with torch). Each round runs A then B as separate
processes, so a change in machine load hits both alike; the table gives every pair, their ratio
A/B, and the medians. Needs only the standard library; the release binary must be built first
(`swift build -c release --product bench`). 5 rounds took 123–130 s on two cores at load average ~4.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run(command, env):
    """Runs `command`, returns its `key: value` lines as a dict of floats (and the raw text)."""
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    values = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^([a-z_]+): ([0-9.]+)$", line.strip())
        if m:
            values[m.group(1)] = float(m.group(2))
    if "train_samples_per_s" not in values:
        sys.exit(f"{' '.join(command)} printed no train_samples_per_s:\n{out.stdout}")
    return values, out.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a Python interpreter that has torch")
    parser.add_argument("--bench", default=os.path.join(ROOT, ".build", "release", "bench"),
                        help="the bench binary (default: the release build)")
    parser.add_argument("--rounds", type=int, default=5, help="A B pairs (at least 3)")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed round inside each process")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds inside each process (median)")
    args = parser.parse_args()
    if args.rounds < 3:
        sys.exit("--rounds must be at least 3")
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"no bench binary at {args.bench}: build it with `swift build -c release --product bench`")

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    shape = ["--steps", str(args.steps), "--repeats", str(args.repeats)]
    bench = [args.bench, "speed", "--threads", "1", "--hidden", "400,400", "--batch-size", "128"] + shape
    torch = [args.python, os.path.join(HERE, "pytorch_step.py"), "--threads", "1", "--hidden", "400,400",
             "--batch-size", "128"] + shape

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.monotonic()
    pairs = []
    for r in range(args.rounds):
        a, _ = run(bench, env)
        b, text = run(torch, env)
        if r == 0:
            print(text.splitlines()[0])
        pairs.append((a, b))
        print(f"round {r + 1}: bench {a['train_samples_per_s']:.0f} samples/s "
              f"(ratio_to_bound {a.get('ratio_to_bound', float('nan')):.2f}), "
              f"pytorch {b['train_samples_per_s']:.0f} samples/s, "
              f"bench/pytorch {a['train_samples_per_s'] / b['train_samples_per_s']:.2f}", flush=True)

    a = [p[0]["train_samples_per_s"] for p in pairs]
    b = [p[1]["train_samples_per_s"] for p in pairs]
    ratios = [x / y for x, y in zip(a, b)]
    bound = [p[0].get("ratio_to_bound", float("nan")) for p in pairs]
    print("| | median | min | max |")
    print("|---|---|---|---|")
    print(f"| bench speed, train samples/s | {statistics.median(a):.0f} | {min(a):.0f} | {max(a):.0f} |")
    print(f"| PyTorch, train samples/s | {statistics.median(b):.0f} | {min(b):.0f} | {max(b):.0f} |")
    print(f"| bench / PyTorch, pair by pair | {statistics.median(ratios):.2f} | {min(ratios):.2f} | {max(ratios):.2f} |")
    print(f"| bench ratio_to_bound | {statistics.median(bound):.2f} | {min(bound):.2f} | {max(bound):.2f} |")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{args.rounds} rounds in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
