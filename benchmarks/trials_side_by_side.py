"""Trials side by side: a grid's points run one after another with every CPU, against one
single-threaded process per CPU at once (what `wsss study run --grid` does by default on a
machine without GPUs, study/spec.py `StudySpec.parallelism`).

    python benchmarks/trials_side_by_side.py [--profile quick] [--until evaluate]
                                             [--deltas 0.55 0.6]

Both sides run the same configurations (one per δ) through ``--until`` with ``wsss run``,
each process from a cache holding only the shared pre-training (computed first, untimed),
so every other stage is computed. Prints each side's wall time, their ratio, and the
metrics of both sides (equal up to float rounding between thread counts).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load

ROOT = Path(__file__).resolve().parents[1]


def wsss_run(cache: Path, overrides: list[str], until: str, threads: int | None
             ) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if threads is not None:  # what Ray sets for a one-CPU trial
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.Popen([sys.executable, "-m", "study.cli", "run", "--cache", str(cache),
                             "--until", until, *overrides], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def metrics(log: str) -> dict[str, float]:
    """The last stage's metrics, which ``wsss run`` prints as a dict on its last line."""
    pairs = re.findall(r"'([^']+)': ([^,}]+)", log.strip().splitlines()[-1])
    return {k: float(v) for k, v in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--until", default="evaluate")
    parser.add_argument("--deltas", nargs="+", default=["0.55", "0.6"])
    args = parser.parse_args()
    cpus = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="wsss-side-by-side-"))
    configs = [[f"profile={args.profile}", "classifier/drs=constant",
                f"classifier/drs_delta={d}"] for d in args.deltas]
    shared = work / "pretrained"
    first = wsss_run(shared, configs[0], "pretrain", None)
    log = first.communicate()[0]
    if first.returncode != 0:
        sys.exit(log)

    def side(name: str, threads: int | None, at_once: int) -> tuple[float, list[dict]]:
        caches = []
        for k in range(len(configs)):
            caches.append(work / f"{name}-{k}")
            shutil.copytree(shared, caches[-1])
        start, logs, queue = time.perf_counter(), {}, list(range(len(configs)))
        running: dict[int, subprocess.Popen] = {}
        while queue or running:
            while queue and len(running) < at_once:
                k = queue.pop(0)
                running[k] = wsss_run(caches[k], configs[k], args.until, threads)
            k, proc = next(iter(running.items()))
            logs[k] = proc.communicate()[0]
            if proc.returncode != 0:
                sys.exit(logs[k])
            del running[k]
        return time.perf_counter() - start, [metrics(logs[k]) for k in range(len(configs))]

    print(f"{len(configs)} configurations of profile {args.profile} through {args.until}, "
          f"{cpus} CPUs", flush=True)
    print(f"serial, {cpus} threads each ({load()}) ...", flush=True)
    serial, serial_metrics = side("serial", None, 1)
    print(f"  {serial:.1f} s", flush=True)
    print(f"side by side, {cpus} processes of 1 thread ({load()}) ...", flush=True)
    together, together_metrics = side("together", 1, cpus)
    print(f"  {together:.1f} s  ({load()})", flush=True)
    print(f"\nside by side is {serial / together:.2f}x faster "
          f"({serial:.1f} s serial / {together:.1f} s side by side)")
    for d, a, b in zip(args.deltas, serial_metrics, together_metrics, strict=True):
        shown = [k for k in ("evaluate/report/miou", "evaluate/report/miou_crf",
                             "pseudo_labels/miou",
                             "cams/miou") if k in a][:2]
        print(f"  δ {d}: " + ", ".join(f"{k} {a[k]:.4f} / {b[k]:.4f}" for k in shown))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
