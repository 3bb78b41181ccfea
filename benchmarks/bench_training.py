"""Training and sampling throughput of each autoregressive model, against naive references run alongside.

For every architecture (default hyperparameters) this prints:
  - training throughput: strings per second through forward, backward and an Adam step;
  - sampling throughput of the vectorised ancestral sampler, and its ratio to a per-sample Python loop
    (the same network, one string at a time), the reference every hot path is measured against;
  - for the transformer and PixelCNN, the ratio of cached incremental sampling to recomputing the whole
    prefix at every site (the default `AutoregressiveModel.step`).

Usage:
    .venv/bin/python benchmarks/bench_training.py [--n-qubits 20] [--threads 2] [--device auto]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from qgen.models import AutoregressiveModel, build

__all__ = ["main"]

ARCHITECTURES = {
    "rnn (gru 3x100)": ("rnn", {}),
    "rnn (lstm 3x100)": ("rnn", {"cell": "lstm"}),
    "pixelcnn": ("pixelcnn", {}),
    "transformer": ("transformer", {}),
}


def _rate(work: Callable[[], int], min_seconds: float, device: torch.device) -> float:
    """Items per second of `work` (which returns how many items it did), after one warm-up call."""
    work()
    done, start = 0, time.perf_counter()
    while True:
        done += work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed


def training_rate(model: AutoregressiveModel, batch_size: int, seconds: float) -> float:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, model.n_outcomes, (batch_size, model.n_qubits), generator=g).to(model.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> int:
        loss = model(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return batch_size

    return _rate(step, seconds, model.device)


def sampling_rate(model: AutoregressiveModel, n: int, seconds: float) -> float:
    return _rate(lambda: len(model.sample(n, generator=0)), seconds, model.device)


def per_sample_loop_rate(model: AutoregressiveModel, n: int, seconds: float) -> float:
    """The naive reference: a Python loop over samples, each drawn alone."""

    def loop() -> int:
        g = torch.Generator().manual_seed(0)
        for _ in range(n):
            model.sample(1, generator=g)
        return n

    return _rate(loop, seconds, model.device)


def uncached_sampling_rate(model: AutoregressiveModel, n: int, seconds: float) -> float:
    """Sampling through the base class's step, which recomputes the whole prefix at every site."""
    original_begin, original_step = model.begin, model.step
    model.begin = lambda n_: AutoregressiveModel.begin(model, n_)  # type: ignore[method-assign]
    model.step = lambda t, s, i: AutoregressiveModel.step(model, t, s, i)  # type: ignore[method-assign]
    try:
        return sampling_rate(model, n, seconds)
    finally:
        model.begin, model.step = original_begin, original_step  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qubits", type=int, default=20)
    parser.add_argument("--n-outcomes", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-samples", type=int, default=4096, help="strings per vectorised sampling call")
    parser.add_argument("--loop-samples", type=int, default=64, help="strings per call of the naive loop")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per measurement")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    n, k = args.n_qubits, args.n_outcomes
    print(f"N = {n}, K = {k}, device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    header = (
        f"{'model':<18} {'params':>8} {'train /s':>10} {'sample /s':>10} {'loop /s':>9} {'vs loop':>8} "
        f"{'uncached /s':>11} {'vs uncached':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, (name, hyper) in ARCHITECTURES.items():
        model = build(name, n_qubits=n, n_outcomes=k, seed=0, **hyper).to(device)
        n_params = sum(p.numel() for p in model.parameters())
        train = training_rate(model, args.batch_size, args.seconds)
        sample = sampling_rate(model, args.n_samples, args.seconds)
        loop = per_sample_loop_rate(model, args.loop_samples, args.seconds)
        uncached_text = ratio_text = "-"
        if name in ("transformer", "pixelcnn"):
            uncached = uncached_sampling_rate(model, args.n_samples, args.seconds)
            uncached_text, ratio_text = f"{uncached:11.0f}", f"{sample / uncached:10.1f}x"
        print(
            f"{label:<18} {n_params:>8} {train:>10.0f} {sample:>10.0f} {loop:>9.0f} {sample / loop:>7.0f}x "
            f"{uncached_text:>11} {ratio_text:>11}"
        )


if __name__ == "__main__":
    main()
