"""Search's best against the paper's setting, seed by seed (study/confirm.py runs them).

Both settings run with the same seeds, so the difference is taken per seed (paired) and its
spread is the standard deviation of those differences; a single seed has no spread.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Comparison:
    metric: str
    seeds: tuple[int, ...]
    ours: tuple[float, ...]  # the search's best, one value per seed
    paper: tuple[float, ...]

    @property
    def differences(self) -> tuple[float, ...]:
        return tuple(a - b for a, b in zip(self.ours, self.paper, strict=True))


def _spread(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else math.nan


def compare(df: pd.DataFrame, metric: str, ours: str = "search",
            paper: str = "paper") -> Comparison:
    """Values of ``metric`` for the two points (``choice/grid``) on the seeds both have."""
    col = f"metrics.{metric}"
    if col not in df:
        raise KeyError(f"no metric {metric!r} in the confirmation trials")
    by = {(str(r["choice/grid"]), int(r["seed"])): float(r[col]) for _, r in df.iterrows()}
    seeds = tuple(sorted({s for p, s in by if p == ours} & {s for p, s in by if p == paper}))
    if not seeds:
        raise ValueError(f"no seed has both {ours!r} and {paper!r} finished")
    return Comparison(metric, seeds, tuple(by[ours, s] for s in seeds),
                      tuple(by[paper, s] for s in seeds))


def _pm(values: Sequence[float]) -> str:
    mean, sd = 100 * statistics.fmean(values), 100 * _spread(values)
    return f"{mean:.1f}" if math.isnan(sd) else f"{mean:.1f} ± {sd:.1f}"


def markdown(rows: Sequence[Comparison]) -> str:
    """Mean ± standard deviation over seeds (×100) of each setting and of the paired
    difference, with every seed's values."""
    lines = ["| metric | search's best | paper's setting | difference (paired) | n | per seed "
             "(best / paper) |", "|---|---|---|---|---|---|"]
    for c in rows:
        each = "; ".join(f"s{s}: {100 * a:.1f} / {100 * b:.1f}"
                         for s, a, b in zip(c.seeds, c.ours, c.paper, strict=True))
        diff = _pm(c.differences)
        lines.append(f"| {c.metric} | {_pm(c.ours)} | {_pm(c.paper)} | "
                     f"{'+' if not diff.startswith('-') else ''}{diff} | {len(c.seeds)} | {each} |")
    return "\n".join(lines)


def verdict(c: Comparison) -> str:
    """Wins / loses only when the paired mean difference is beyond two standard errors."""
    d = c.differences
    mean = statistics.fmean(d)
    if len(d) < 2:
        return f"one seed: {100 * mean:+.1f}, no spread to judge by"
    se = statistics.stdev(d) / math.sqrt(len(d))
    if abs(mean) <= 2 * se:
        return f"within noise ({100 * mean:+.1f}, 2 SE = {200 * se:.1f}, n={len(d)})"
    side = "beats" if mean > 0 else "is worse than"
    return (f"search's best {side} the paper's setting by {100 * abs(mean):.1f} "
            f"(2 SE = {200 * se:.1f}, n={len(d)})")
