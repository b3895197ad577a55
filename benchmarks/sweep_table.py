"""What the quick-sweep benchmarks share: run one configuration, print the mean ± std table."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsss import config
from wsss.cache import StageCache
from wsss.pipeline import run_pipeline

Columns = Sequence[tuple[str, str]]  # (metric key, column label)


def run_row(name: str, overrides: Mapping[str, Any], cache: StageCache,
            columns: Columns) -> dict[str, float]:
    """Run (or reuse) the pipeline of one configuration; print a line; return its metrics."""
    start = time.perf_counter()
    entries = run_pipeline(config.resolve(dict(overrides)), cache)
    metrics = {k: v for e in entries.values() for k, v in e.metrics.items()}
    computed = sum(not e.hit for e in entries.values())
    shown = ", ".join(f"{label} {metrics[k]:.3f}" for k, label in columns if k in metrics)
    print(f"{name:<11} seed {overrides.get('seed', 0)}: {time.perf_counter() - start:6.1f} s, "
          f"{computed} stage(s) computed; {shown}", flush=True)
    return metrics


def print_table(title: str, first: str, rows: Mapping[str, list[dict[str, float]]],
                columns: Columns) -> None:
    """Markdown: one row per name, each cell the mean (± std over seeds), "-" if missing."""
    print(f"\n{title}")
    print(f"| {first} | {' | '.join(label for _, label in columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    for name, results in rows.items():
        cells = []
        for key, _ in columns:
            values = np.array([r.get(key, np.nan) for r in results])
            cell = "-" if np.isnan(values).all() else f"{values.mean():.3f}"
            cells.append(cell + (f" ± {values.std():.3f}" if len(results) > 1 and cell != "-"
                                 else ""))
        print(f"| {name} | {' | '.join(cells)} |")
