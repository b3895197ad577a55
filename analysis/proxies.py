"""Do cheap stages predict the final mIoU? Rank agreement of every stage's headline metric with
the final metric over a study's configurations (``benchmarks/proxy_correlation.py``).

A proxy is useful to a multi-fidelity search when it *ranks* configurations as the final
metric does (the scheduler only compares trials), so the measures are rank correlations,
Spearman's rho and Kendall's tau-b, and whether the proxy's top k holds the truly best
configuration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.importance import HEADLINES

FINAL = "evaluate/miou_crf"  # the papers' number, on the selection split


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of the ranks (ties share their mean rank); NaN if either is flat."""
    rx, ry = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """(concordant - discordant) / sqrt((pairs - ties in x) (pairs - ties in y))."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    untied_x, untied_y = np.count_nonzero(dx), np.count_nonzero(dy)
    if untied_x == 0 or untied_y == 0:
        return math.nan
    return float((dx * dy).sum() / math.sqrt(untied_x * untied_y))


def top_k_holds_best(proxy: Sequence[float], final: Sequence[float], k: int) -> bool:
    """Whether a configuration with the best final value is among the proxy's top k (a tie
    at the k-th proxy value counts as inside: the proxy cannot separate them)."""
    proxy, final = np.asarray(proxy, float), np.asarray(final, float)
    threshold = np.sort(proxy)[::-1][min(k, len(proxy)) - 1]
    return bool((proxy[final == final.max()] >= threshold).any())


@dataclass(frozen=True)
class ProxyRow:
    metric: str
    n: int
    spearman: float
    kendall: float
    top_k: dict[int, bool]


def proxy_rows(df: pd.DataFrame, final: str = FINAL,
               ks: Sequence[int] = (1, 3, 5)) -> list[ProxyRow]:
    """One row per stage headline metric that varies over the trials holding ``final``
    (losses negated, so that every proxy is higher-is-better), in pipeline order."""
    done = df[df[f"metrics.{final}"].notna()] if f"metrics.{final}" in df else df.iloc[:0]
    rows = []
    for metric, up in HEADLINES:
        col = f"metrics.{metric}"
        if metric == final:
            continue
        if col not in done or done[col].isna().any() or done[col].nunique() < 2:
            continue  # not recorded by every trial (refine) or the same for all (pretrain)
        proxy = done[col].to_numpy(float) * (1 if up else -1)
        target = done[f"metrics.{final}"].to_numpy(float)
        rows.append(ProxyRow(metric if up else f"-{metric}", len(done),
                             spearman(proxy, target), kendall_tau_b(proxy, target),
                             {k: top_k_holds_best(proxy, target, k) for k in ks}))
    return rows


def markdown(rows: list[ProxyRow], final: str = FINAL) -> str:
    if not rows:
        return "(no trial holds the final metric and a varying stage metric)"
    ks = list(rows[0].top_k)
    head = ["stage metric (proxy)", "n", "Spearman ρ", "Kendall τ-b",
            *[f"top-{k} holds the best {final}" for k in ks]]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        lines.append(f"| {r.metric} | {r.n} | {r.spearman:+.2f} | {r.kendall:+.2f} | "
                     + " | ".join("yes" if r.top_k[k] else "no" for k in ks) + " |")
    return "\n".join(lines)
