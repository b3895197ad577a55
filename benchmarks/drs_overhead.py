"""What DRS costs: a training step of the classifier with DRS in every layer over the same
network with plain ReLUs.

    python benchmarks/drs_overhead.py [--arch narrow --size 64 --batch 64]
                                      [--steps 20 --rounds 5] [--device cpu|cuda]
                                      [--layout channels_last|contiguous]
    python benchmarks/drs_overhead.py --arch vgg16_d1 --size 321 --batch 8 --device cuda

Each round times ``--steps`` SGD steps (forward, multi-label loss, backward, update) of
each variant in turn (ReLU, constant δ = 0.55, learnable), so a load change hits every
variant alike; a variant's time is its median round. Also prints the step time of the
pre-change formulation (``amax`` peak, ``torch.minimum``) as ``amax+minimum``, which the
one-element max gradient replaced. The ratios are over the ReLU network. The networks are
in the stages' layout (``channels_last``, the config's default) unless told otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from common import load

from wsss.config import LAYERS
from wsss.models.classifier import build_classifier
from wsss.models.drs import DRS
from wsss.runtime import place


class AmaxMinimumDRS(DRS):
    """The formulation before: ``amax`` (gradient split over ties) and ``torch.minimum``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        peak = x.amax(dim=(2, 3), keepdim=True)
        if self.fc is None:
            return torch.minimum(x, self.delta * peak)
        gate = torch.sigmoid(self.fc(x.mean(dim=(2, 3))))
        return torch.minimum(x, gate[:, :, None, None] * peak)


def _with_amax(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, DRS):
            module.__class__ = AmaxMinimumDRS
    return model


def variants(arch: str) -> dict[str, nn.Module]:
    make = {"relu": lambda: build_classifier(arch, 20),
            "constant": lambda: build_classifier(arch, 20, drs="constant", drs_layers=LAYERS),
            "learnable": lambda: build_classifier(arch, 20, drs="learnable", drs_layers=LAYERS)}
    models = {}
    for name, build in make.items():
        torch.manual_seed(0)
        models[name] = build()
    torch.manual_seed(0)
    models["learnable amax+minimum"] = _with_amax(make["learnable"]())
    return models


def time_steps(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], steps: int,
               device: torch.device) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images, labels = batch
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        loss = F.multilabel_soft_margin_loss(model(images)["logits"], labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="narrow")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--layout", choices=["channels_last", "contiguous"],
                        default="channels_last")
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
    labels = (torch.rand(args.batch, 20, generator=gen) < 0.15).float().to(device)
    models = {k: place(m, device, args.layout == "channels_last").train()
              for k, m in variants(args.arch).items()}
    for model in models.values():  # warm-up: allocator, kernels, autograd graph caches
        time_steps(model, (images, labels), 2, device)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            times[name].append(time_steps(model, (images, labels), args.steps, device))
    base = statistics.median(times["relu"])
    print(f"DRS overhead: {args.arch}, {args.size} px, batch {args.batch}, {args.device}, "
          f"{args.layout}, "
          f"torch threads {torch.get_num_threads()}, median of {args.rounds} rounds of "
          f"{args.steps} steps ({load()})")
    print(f"| {'network':<28} | step (ms) | over ReLU |")
    print(f"|{'-' * 30}|-----------|-----------|")
    for name, values in times.items():
        med = statistics.median(values)
        label = name if name == "relu" else f"DRS {name}, all layers"
        print(f"| {label:<28} | {1000 * med:9.1f} | {med / base:8.2f}x |")


if __name__ == "__main__":
    main()
