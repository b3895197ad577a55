"""The papers' ablation tables rebuilt from a study's trials, our numbers beside theirs.

Each builder takes the typed trials (``runs.load_trials``) and the metric that fills our
cells, and returns a ``Table``: rows in the paper's order, a caption naming the metric,
our cells as every matching trial's value (several seeds give mean ± std and the count),
the paper's numbers in their own column. A cell without trials stays missing ("–").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis import papers
from wsss.config import DRS_PLACEMENTS, LAYERS

MISSING = "–"


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n if self.n else math.nan

    @property
    def std(self) -> float:  # sample standard deviation over seeds
        if self.n < 2:
            return math.nan
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    def text(self, scale: float = 1.0, digits: int = 1) -> str:
        if not self.n:
            return MISSING
        if self.n == 1:
            return f"{self.mean * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f} (n={self.n})"


@dataclass
class Table:
    key: str
    title: str
    caption: str
    index: list[str]  # row-header column names
    columns: list[str]  # value column names
    rows: list[tuple[list[str], list[Cell | float | None]]] = field(default_factory=list)
    scale: float = 100.0  # our metrics are fractions; the papers print percent

    @property
    def filled(self) -> int:
        return sum(isinstance(c, Cell) and c.n > 0 for _, cells in self.rows for c in cells)


def _col(df: pd.DataFrame, key: str) -> pd.Series:
    return df[key] if key in df else pd.Series([None] * len(df), index=df.index)


def _metric(df: pd.DataFrame, metric: str) -> pd.Series:
    return df.get(f"metrics.{metric}", pd.Series([math.nan] * len(df), index=df.index))


def _cells(df: pd.DataFrame, metric: str, keys: pd.Series) -> dict[Any, Cell]:
    out: dict[Any, Cell] = {}
    for key, value in zip(keys, _metric(df, metric), strict=True):
        missing = key is None or (isinstance(key, float) and key != key)  # pandas: None -> NaN
        if not missing and value == value:
            out.setdefault(key, Cell()).values.append(float(value))
    return out


def _controller_key(row: pd.Series) -> str | None:
    if row.get("classifier/drs") == "learnable":
        return "learnable"
    if row.get("classifier/drs") == "constant":
        return f"delta={float(row['classifier/drs_delta']):.2f}"
    return None


def drs_table1(df: pd.DataFrame, metric: str) -> Table:
    full = df[[tuple(v or ()) == LAYERS for v in _col(df, "classifier/drs_layers")]]
    cells = _cells(full, metric, full.apply(_controller_key, axis=1) if len(full) else
                   pd.Series(dtype=object))
    table = Table("drs1", "DRS Table 1: suppression controller",
                  f"Ours: {metric} (×100) per controller, DRS in layer1-6; paper: DeepLab-"
                  "LargeFOV val mIoU (%).", ["controller"], [f"ours ({metric})", "paper"])
    extra = sorted(k for k in cells if k not in papers.DRS_TABLE1)
    for key in [*papers.DRS_TABLE1, *extra]:
        label = key.replace("delta=", "δ = ")
        table.rows.append(([label], [cells.get(key, Cell()), papers.DRS_TABLE1.get(key)]))
    return table


def _placement_key(row: pd.Series) -> str | None:
    if row.get("classifier/drs") == "none":
        return "none"
    if row.get("classifier/drs") != "learnable":
        return None
    layers = tuple(row.get("classifier/drs_layers") or ())
    return next((k for k, v in DRS_PLACEMENTS.items() if v == layers and k != "none"), None)


def drs_table2(df: pd.DataFrame, metric: str) -> Table:
    cells = _cells(df, metric, df.apply(_placement_key, axis=1) if len(df) else
                   pd.Series(dtype=object))
    table = Table("drs2", "DRS Table 2: where DRS is placed",
                  f"Ours: {metric} (×100), learnable controller; paper: DeepLab-LargeFOV val "
                  "mIoU (%), no refinement.", list(LAYERS), [f"ours ({metric})", "paper"])
    for name, layers in DRS_PLACEMENTS.items():
        marks = ["✓" if g in layers else "-" for g in LAYERS]
        table.rows.append((marks, [cells.get(name, Cell()), papers.DRS_TABLE2[name]]))
    return table


def sse_table1(df: pd.DataFrame, metric: str) -> Table:
    rate = _col(df, "classifier/ser_rate")  # SSENet stages: the SSENet issue
    keys = pd.Series(["baseline" if r is None or r != r else f"{float(r):.1f}" for r in rate],
                     index=df.index) if "classifier/ser_rate" in df else pd.Series(
                         [None] * len(df), index=df.index)
    cam, rw = _cells(df, "cam/miou", keys), _cells(df, "rw/miou", keys)
    table = Table("sse1", "SSENet Table 1: branch downsampling rate",
                  "Ours: CAM and CAM+rw pseudo-label mIoU (×100) on the train split; paper: "
                  "VOC 2012 train (%).", ["model"],
                  ["ours CAM", "ours CAM+rw", "paper CAM", "paper CAM+rw"])
    for key, (p_cam, p_rw) in papers.SSE_TABLE1.items():
        label = "Baseline" if key == "baseline" else f"SSENet ({key})"
        table.rows.append(([label], [cam.get(key, Cell()), rw.get(key, Cell()), p_cam, p_rw]))
    return table


def sse_table2(df: pd.DataFrame, metric: str) -> Table:
    table = Table("sse2", "SSENet Table 2: scale augmentation range",
                  "Ours: CAM mIoU (×100); paper: VOC 2012 train (%).", ["model", "range"],
                  ["ours CAM", "paper CAM"])
    ranges = _col(df, "classifier/scale_range")
    named = _col(df, "choice/scale_range")  # the paper's range a synthetic grid stands for
    rates = _col(df, "classifier/ser_rate")
    keys = pd.Series([(("baseline" if r is None or r != r else f"SSENet ({float(r):.1f})"),
                       str(list(n)) if isinstance(n, (list, tuple)) else  # yaml read it back
                       str(list(s)) if s is not None else None)
                      for r, s, n in zip(rates, ranges, named, strict=True)], index=df.index)
    cam = _cells(df, "cam/miou", keys)
    for (model, rng), paper in papers.SSE_TABLE2.items():
        table.rows.append(([model, rng], [cam.get((model, rng), Cell()), paper]))
    return table


def thresholds_table(df: pd.DataFrame, metric: str) -> Table:
    """What neither paper has: pseudo-label mIoU over the alpha x beta grid."""
    alphas = sorted({float(a) for a in _col(df, "pseudo/alpha").dropna()})
    betas = sorted({float(b) for b in _col(df, "pseudo/beta").dropna()})
    keys = pd.Series(list(zip(_col(df, "pseudo/alpha"), _col(df, "pseudo/beta"), strict=True)),
                     index=df.index)
    cells = _cells(df, metric, keys)
    table = Table("thresholds", "Pseudo-label thresholds α × β",
                  f"Ours: {metric} (×100); rows α (object cue), columns β (saliency).",
                  ["α \\ β"], [f"{b:.2f}" for b in betas])
    for a in alphas:
        table.rows.append(([f"{a:.2f}"], [cells.get((a, b), Cell()) for b in betas]))
    return table


def rw_table(df: pd.DataFrame, metric: str) -> Table:
    """Random-walk steps t -> pseudo-label mIoU (SSENet stages)."""
    steps = _col(df, "random_walk/steps")
    cells = _cells(df, "rw/miou", steps)
    table = Table("rw", "Random-walk steps", "Ours: CAM+rw mIoU (×100) per number of steps t.",
                  ["t"], ["ours CAM+rw"])
    for t in sorted(k for k in cells if k is not None):
        table.rows.append(([str(t)], [cells[t]]))
    return table


BUILDERS: dict[str, Callable[[pd.DataFrame, str], Table]] = {
    "drs1": drs_table1, "drs2": drs_table2, "sse1": sse_table1, "sse2": sse_table2,
    "thresholds": thresholds_table, "rw": rw_table,
}
