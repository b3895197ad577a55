"""What the channels-last layout (config ``channels_last``, on by default) buys: training
steps and batched inference of the quick profile's networks, in both layouts.

    python benchmarks/channels_last.py [--size 64 --batch 64 --infer-batch 128]
                                       [--steps 10 --rounds 5] [--device cpu|cuda]

Each round times ``--steps`` Adam steps (forward, loss, backward, update) and ``--steps``
no-grad forward passes of every network in each layout in turn, so a load change hits both
layouts alike; a figure is the median round. The ratio is contiguous over channels-last
(> 1: channels-last is faster). ``tests/wsss/models/test_layout.py`` checks that both
layouts compute the same outputs and gradients.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn as nn
from common import load

from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.runtime import place

NETS: dict[str, Callable[[], nn.Module]] = {
    "classifier narrow, DRS learnable": lambda: build_classifier("narrow", 20, drs="learnable"),
    "classifier narrow, DRS 0.55": lambda: build_classifier("narrow", 20, drs="constant"),
    "classifier narrow, no DRS": lambda: build_classifier("narrow", 20),
    "largefov_narrow (segment)": lambda: build_segmenter("largefov_narrow", 21),
}


def _first(out):
    return out["logits"] if isinstance(out, dict) else out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_train(model: nn.Module, images: torch.Tensor, steps: int,
               device: torch.device) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        loss = _first(model(images)).float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return (time.perf_counter() - start) / steps


@torch.no_grad()
def time_infer(model: nn.Module, images: torch.Tensor, steps: int,
               device: torch.device) -> float:
    model.eval()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        model(images)
    _sync(device)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--infer-batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    train_x = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
    infer_x = torch.randn(args.infer_batch, 3, args.size, args.size, generator=gen).to(device)
    nets = {}
    for name, build in NETS.items():
        torch.manual_seed(0)
        base = build()
        for layout in ("contiguous", "channels_last"):
            nets[name, layout] = place(copy.deepcopy(base), device, layout == "channels_last")
    for model in nets.values():  # warm-up: allocator, kernels, oneDNN primitives
        time_train(model, train_x, 1, device)
        time_infer(model, infer_x, 1, device)
    times: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(args.rounds):
        for (name, layout), model in nets.items():
            times.setdefault((name, "train", layout), []).append(
                time_train(model, train_x, args.steps, device))
            times.setdefault((name, "infer", layout), []).append(
                time_infer(model, infer_x, args.steps, device))
    print(f"channels-last vs contiguous: {args.size} px, train batch {args.batch}, inference "
          f"batch {args.infer_batch}, {args.device}, torch threads {torch.get_num_threads()}, "
          f"median of {args.rounds} rounds of {args.steps} steps ({load()})")
    print(f"| {'network':<34} | {'pass':<5} | contiguous (ms) | channels-last (ms) | ratio |")
    print(f"|{'-' * 36}|-------|-----------------|--------------------|-------|")
    for name in NETS:
        for kind in ("train", "infer"):
            old = statistics.median(times[name, kind, "contiguous"])
            new = statistics.median(times[name, kind, "channels_last"])
            print(f"| {name:<34} | {kind:<5} | {1000 * old:15.1f} | {1000 * new:18.1f} | "
                  f"{old / new:4.2f}x |")


if __name__ == "__main__":
    main()
