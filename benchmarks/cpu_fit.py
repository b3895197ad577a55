"""Threads, DataLoader workers and the OpenMP wait policy: the stages' automatic setting
against the alternatives, on a quiet machine and with one core kept busy.

    python benchmarks/cpu_fit.py [--root data/synth-quick] [--steps 12] [--rounds 2]

Workload: classifier training steps as the `classifier` stage runs them (the quick profile's
narrow network with DRS δ = 0.55 in every layer, batch 64, images decoded and augmented by
the stage's dataset). Each setting runs in its own process (the wait policy is read when
OpenMP loads); settings alternate within a round (each round starts one later), and
"busy" starts one process spinning on a core beside it. A setting's time is its median
round, per step; ratios are over the automatic setting (``data/workers=-1``: 2 loader
workers on 2 CPUs; OpenMP's default wait policy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import load

# (label, OMP_WAIT_POLICY, torch threads (0 = automatic), DataLoader workers (-1 = automatic))
SETTINGS = [("automatic", "", 0, -1), ("automatic + passive wait", "PASSIVE", 0, -1),
            ("passive, 0 loader workers", "PASSIVE", 0, 0),
            ("passive, 1 loader worker", "PASSIVE", 0, 1),
            ("spinning, 0 loader workers", "ACTIVE", 0, 0),
            ("passive, 1 thread, 0 loader workers", "PASSIVE", 1, 0)]


def worker(root: str, steps: int, threads: int, workers: int) -> None:
    import torch

    from wsss import config, engine
    from wsss.data.datasets import ClassificationDataset
    from wsss.data.splits import open_layout, records
    from wsss.data.transforms import classifier_transform
    from wsss.models.classifier import build_classifier
    from wsss.runtime import fit_threads, loader_workers

    cfg = config.resolve({"profile": "quick", "data/root": root})
    n_threads = fit_threads() if threads == 0 else threads
    torch.set_num_threads(n_threads)
    layout = open_layout(cfg)
    data = ClassificationDataset(layout, records(cfg, layout, cfg.data.train_split),
                                 classifier_transform(cfg.classifier), seed=0)
    torch.manual_seed(0)
    model = build_classifier("narrow", layout.num_classes, drs="constant")
    step = engine.classification_step(model, torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = engine.loader(data, 64, workers=workers, shuffle=True)
    times, start = [], time.perf_counter()
    for i, batch in enumerate(batches):
        loss, _ = step(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        now = time.perf_counter()
        if i >= 2:  # the first steps start the workers and warm the allocator
            times.append(now - start)
        start = now
        if i + 1 == steps + 2:
            break
    print(json.dumps({"step": statistics.mean(times), "threads": n_threads,
                      "workers": loader_workers(workers)}))


def run(root: str, steps: int, setting: tuple) -> dict:
    _, policy, threads, workers = setting
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if policy:  # "": OpenMP's own default (it spins a while before sleeping)
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, __file__, "--worker", root, str(steps), str(threads),
                          str(workers)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data/synth-quick")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", nargs=4)
    args = parser.parse_args()
    if args.worker:
        root, steps, threads, workers = args.worker
        worker(root, int(steps), int(threads), int(workers))
        return
    root = str(Path(args.root).resolve())
    for busy in (False, True):
        spinner = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   if busy else None)
        try:
            times: dict[str, list[float]] = {s[0]: [] for s in SETTINGS}
            shape: dict[str, dict] = {}
            for r in range(args.rounds):
                for setting in SETTINGS[r % len(SETTINGS):] + SETTINGS[:r % len(SETTINGS)]:
                    result = run(root, args.steps, setting)
                    times[setting[0]].append(result["step"])
                    shape[setting[0]] = result
            where = "one core busy" if busy else "quiet"
            print(f"\nclassifier training step, {where} ({load()}), median of {args.rounds}")
            print("| setting | threads | loader workers | ms / step | over automatic |")
            print("|---|---|---|---|---|")
            auto = statistics.median(times["automatic"])
            for label, values in times.items():
                med = statistics.median(values)
                print(f"| {label} | {shape[label]['threads']} | {shape[label]['workers']} | "
                      f"{1000 * med:.0f} | {med / auto:.2f}x |")
        finally:
            if spinner:
                spinner.kill()


if __name__ == "__main__":
    main()
