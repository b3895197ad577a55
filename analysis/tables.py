"""The papers' ablation tables rebuilt from a study's trials, our numbers beside theirs.

Each method's tables live in ``analysis/<method name>.py`` (a ``TABLES`` dict of builders,
collected here from ``wsss.methods.METHODS``). A builder takes the typed trials
(``runs.load_trials``) and the metric that fills our cells, and returns a ``Table``: rows in
the paper's order, a caption naming the metric, our cells as every matching trial's value
(several seeds give mean ± std and the count), the paper's numbers in their own column. A
cell without trials stays missing ("–").
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from wsss.methods import METHODS

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
    plot: str = ""  # figure kind (analysis.plots): line, bar, heat, points; "" = none
    paper_column: int = 1  # the column holding the paper's numbers (line and bar plots)
    offaxis_rows: int = 0  # leading rows drawn apart from the x axis (DRS "learnable")

    @property
    def filled(self) -> int:
        return sum(isinstance(c, Cell) and c.n > 0 for _, cells in self.rows for c in cells)


def col(df: pd.DataFrame, key: str) -> pd.Series:
    return df[key] if key in df else pd.Series([None] * len(df), index=df.index)


def metric_values(df: pd.DataFrame, metric: str) -> pd.Series:
    return df.get(f"metrics.{metric}", pd.Series([math.nan] * len(df), index=df.index))


def cells_by(df: pd.DataFrame, metric: str, keys: pd.Series) -> dict[Any, Cell]:
    out: dict[Any, Cell] = {}
    for key, value in zip(keys, metric_values(df, metric), strict=True):
        missing = key is None or (isinstance(key, float) and key != key)  # pandas: None -> NaN
        if not missing and value == value:
            out.setdefault(key, Cell()).values.append(float(value))
    return out



TableBuilder = Callable[[pd.DataFrame, str], Table]


@functools.cache
def builders() -> dict[str, TableBuilder]:
    """Every method's tables by key, from ``analysis/<method>.py`` (a missing module fails)."""
    return {key: builder for name in METHODS
            for key, builder in importlib.import_module(f"analysis.{name}").TABLES.items()}
