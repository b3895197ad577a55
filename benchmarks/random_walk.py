"""Random walk at VOC size: our sparse propagation against the reference's dense squaring.

    python benchmarks/random_walk.py [--height 375 --width 500 --stride 8 --steps 256]
                                     [--classes 21] [--repeats 3] [--device cpu|cuda]
                                     [--affinities random|structured] [--tolerance 1e-6]

A 500 x 375 image at stride 8 is zero-padded to 504 x 376: a 63 x 47 grid, 2,961 nodes.
Both methods get the same random affinities (34 pairs per node, beta 8) and scores (21
classes, as the reference's ``cam_full``). ``structured`` affinities are high inside blocks
of the grid and low across their edges, with each block's scores led by one class (what a
trained AffinityNet gives). Three methods: the exact sparse walk (t products), the
Chebyshev walk within ``--tolerance`` (the stage's default, docs/method.md, "Random walk") and the
reference. Each method runs in its own process, so its peak
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
from common import load

from wsss.ops.pairs import OFFSETS
from wsss.ops.random_walk import chebyshev_degree, propagate, propagate_dense, transition


def inputs(h: int, w: int, classes: int, device: str,
           kind: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    if kind == "random":
        aff = torch.rand(len(OFFSETS), h - 4, w - 8, generator=g)
        scores = torch.rand(classes, h, w, generator=g)
        return aff.to(device), scores.to(device)
    blocks = torch.arange(h)[:, None] // 12 * 7 + torch.arange(w)[None] // 9
    scores = 0.3 * torch.rand(classes, h, w, generator=g)
    scores[blocks % classes, torch.arange(h)[:, None], torch.arange(w)[None]] += 0.4
    aff = torch.empty(len(OFFSETS), h - 4, w - 8)
    for k, (dy, dx) in enumerate(OFFSETS):
        same = blocks[:h - 4, 4:w - 4] == blocks[dy:h - 4 + dy, 4 + dx:w - 4 + dx]
        aff[k] = torch.where(same, 0.9, 0.2) + 0.1 * torch.rand(h - 4, w - 8, generator=g)
    return aff.to(device), scores.to(device)


def worker(args: argparse.Namespace) -> None:
    """One method in this process: prints JSON with its best time and its result."""
    h, w = -(-args.height // args.stride), -(-args.width // args.stride)
    aff, scores = inputs(h, w, args.classes, args.device, args.affinities)
    times, out = [], None  # the first Chebyshev/sparse call also builds the grid's pattern
    for _ in range(args.repeats if args.method != "none" else 0):
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        if args.method in ("sparse", "chebyshev"):
            tol = args.tolerance if args.method == "chebyshev" else 0.0
            out = propagate(scores, transition(aff, (h, w), args.beta), args.steps, tol)
        else:
            out = propagate_dense(scores, aff, args.beta, args.steps)
        if args.device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if out is not None:
        torch.save(out.cpu(), args.result)
    gpu_peak = torch.cuda.max_memory_allocated() if args.device == "cuda" else 0
    print(json.dumps({"seconds": min(times) if times else 0.0, "first": times[0] if times else 0,
                      "grid": [h, w],
                      "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "gpu_bytes": gpu_peak}))


def run_worker(method: str, args: argparse.Namespace, result: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--result", result]
    for key in ("height", "width", "stride", "steps", "classes", "repeats", "beta", "device",
                "affinities", "tolerance"):
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
    parser.add_argument("--affinities", choices=["random", "structured"], default="random")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--worker", choices=["sparse", "chebyshev", "dense", "none"],
                        dest="method")
    parser.add_argument("--result", default="")
    args = parser.parse_args()
    if args.method:
        worker(args)
        return
    import tempfile
    from pathlib import Path

    methods = ("sparse", "chebyshev", "dense")
    with tempfile.TemporaryDirectory() as tmp:
        base = run_worker("none", args, "")
        runs = {m: run_worker(m, args, str(Path(tmp) / f"{m}.pt")) for m in methods}
        out = {m: torch.load(Path(tmp) / f"{m}.pt") for m in methods}
    h, w = runs["sparse"]["grid"]
    mem = {m: (r["rss_kb"] - base["rss_kb"]) / 1024 for m, r in runs.items()}
    print(f"random walk: {args.height}x{args.width} image, stride {args.stride} -> {h}x{w} "
          f"grid ({h * w} nodes), t = {args.steps}, beta {args.beta}, {args.classes} classes, "
          f"{args.affinities} affinities, {args.device}, best of {args.repeats} ({load()})")
    dense = runs["dense"]["seconds"]
    degree = chebyshev_degree(args.steps, args.tolerance)
    names = {"dense": "dense squaring (reference)",
             "sparse": f"exact sparse ({args.steps} products)",
             "chebyshev": f"Chebyshev, eps {args.tolerance:g} ({degree} products)"}
    print(f"| {'method':<38} | seconds | speed-up | memory (MiB) | max abs diff | argmax nodes | "
          f"argmax pixels |")
    print(f"|{'-' * 40}|---------|----------|--------------|--------------|--------------|"
          f"---------------|")
    ref = out["dense"]
    for m in ("dense", "sparse", "chebyshev"):
        agree = (out[m].argmax(0) == ref.argmax(0)).float().mean().item()
        pixels = [torch.nn.functional.interpolate(
            x[None], size=(h * args.stride, w * args.stride), mode="bilinear",
            align_corners=False)[0][:, :args.height, :args.width].argmax(0) for x in (out[m], ref)]
        seconds = runs[m]["seconds"]
        print(f"| {names[m]:<38} | {seconds:7.3f} | {dense / seconds:7.1f}x | "
              f"{mem[m]:12.1f} | {(out[m] - ref).abs().max().item():12.2e} | {agree:11.3%} | "
              f"{(pixels[0] == pixels[1]).float().mean().item():12.3%} |")
    print(f"(best of {args.repeats}; the first call, which also builds the grid's sparsity "
          f"pattern, cached per grid size: sparse {runs['sparse']['first']:.3f} s, Chebyshev "
          f"{runs['chebyshev']['first']:.3f} s = {dense / runs['chebyshev']['first']:.0f}x)")
    if args.device == "cuda":
        print("GPU peak allocated (MiB): " + ", ".join(
            f"{m} {r['gpu_bytes'] / 2**20:.1f}" for m, r in runs.items()))

if __name__ == "__main__":
    main()
