"""Random walk at VOC size: our sparse propagation against the reference's dense squaring.

    python benchmarks/random_walk.py [--height 375 --width 500 --stride 8 --steps 256]
                                     [--classes 21] [--repeats 3] [--device cpu|cuda]

A 500 x 375 image at stride 8 is zero-padded to 504 x 376: a 63 x 47 grid, 2,961 nodes.
Both methods get the same random affinities (34 pairs per node, beta 8) and scores (21
classes, as the reference's ``cam_full``). Each method runs in its own process, so its peak
resident memory (``ru_maxrss``) is its own; the memory column is that peak minus the peak of
a process that only builds the inputs. Prints times, memory, their ratios, the maximum
absolute difference of the propagated scores and the argmax agreement.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from wsss.ops.pairs import OFFSETS
from wsss.ops.random_walk import propagate, propagate_dense, transition


def inputs(h: int, w: int, classes: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    aff = torch.rand(len(OFFSETS), h - 4, w - 8, generator=g)
    scores = torch.rand(classes, h, w, generator=g)
    return aff.to(device), scores.to(device)


def worker(args: argparse.Namespace) -> None:
    """One method in this process: prints JSON with its best time and its result."""
    h, w = -(-args.height // args.stride), -(-args.width // args.stride)
    aff, scores = inputs(h, w, args.classes, args.device)
    times, out = [], None
    for _ in range(args.repeats if args.method != "none" else 0):
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        if args.method == "sparse":
            out = propagate(scores, transition(aff, (h, w), args.beta), args.steps)
        else:
            out = propagate_dense(scores, aff, args.beta, args.steps)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if out is not None:
        torch.save(out.cpu(), args.result)
    gpu_peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else 0
    print(json.dumps({"seconds": min(times) if times else 0.0, "grid": [h, w],
                      "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "gpu_bytes": gpu_peak}))


def run_worker(method: str, args: argparse.Namespace, result: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--result", result]
    for key in ("height", "width", "stride", "steps", "classes", "repeats", "beta", "device"):
        cmd += [f"--{key}", str(getattr(args, key))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--beta", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worker", choices=["sparse", "dense", "none"], dest="method")
    parser.add_argument("--result", default="")
    args = parser.parse_args()
    if args.method:
        worker(args)
        return
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        base = run_worker("none", args, "")
        sparse = run_worker("sparse", args, str(Path(tmp) / "sparse.pt"))
        dense = run_worker("dense", args, str(Path(tmp) / "dense.pt"))
        a, b = torch.load(Path(tmp) / "sparse.pt"), torch.load(Path(tmp) / "dense.pt")
    h, w = sparse["grid"]
    mem = {k: (r["rss_kb"] - base["rss_kb"]) / 1024 for k, r in (("sparse", sparse),
                                                                  ("dense", dense))}
    print(f"random walk: {args.height}x{args.width} image, stride {args.stride} -> {h}x{w} "
          f"grid ({h * w} nodes), t = {args.steps}, beta {args.beta}, {args.classes} classes, "
          f"{args.device}, best of {args.repeats}")
    print(f"  dense squaring (reference): {dense['seconds']:8.3f} s   +{mem['dense']:7.1f} MiB")
    print(f"  sparse propagation (ours):  {sparse['seconds']:8.3f} s   +{mem['sparse']:7.1f} MiB")
    if args.device == "cuda":
        print(f"  GPU peak allocated: dense {dense['gpu_bytes'] / 2**20:.1f} MiB, "
              f"sparse {sparse['gpu_bytes'] / 2**20:.1f} MiB")
    print(f"  speed-up dense/sparse: {dense['seconds'] / sparse['seconds']:.1f}x; memory "
          f"ratio dense/sparse: {mem['dense'] / max(mem['sparse'], 1e-3):.1f}x")
    agree = (a.argmax(0) == b.argmax(0)).float().mean().item()
    pixels = [torch.nn.functional.interpolate(x[None], size=(h * args.stride, w * args.stride),
                                              mode="bilinear", align_corners=False)[0]
              [:, :args.height, :args.width].argmax(0) for x in (a, b)]
    print(f"  max |sparse - dense| = {(a - b).abs().max().item():.2e}; argmax agreement "
          f"{agree * 100:.3f} % of nodes, "
          f"{(pixels[0] == pixels[1]).float().mean().item() * 100:.3f} % of image pixels")


if __name__ == "__main__":
    main()
