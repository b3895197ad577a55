"""The papers' ablation tables rebuilt from a study's trials, our numbers beside theirs.

Each method's tables live in its ``Method.table_module`` (``analysis/<method name>.py``: a
``TABLES`` dict of builders, collected here from ``wsss.methods.METHODS``). A builder takes the
typed trials (``runs.load_trials``) and the metric that fills our cells, and returns a ``Table``:
rows in the paper's order, a caption naming the metric, our cells as every matching trial's value
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

from wsss.config import outside_key_fields
from wsss.methods import METHODS

MISSING = "–"


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    settings: int = 0  # > 1: trials of that many different settings met here, not averaged

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
            return f"{MISSING} ({self.settings} settings)" if self.settings > 1 else MISSING
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


# The final metric beside a table's own: the segmentation network's mIoU, on the held-out
# reporting split (evaluate/report/...) when the trials scored one, else on the selection split
# (records made before data/report_split existed)
FINAL = {"evaluate/miou": "final mIoU", "evaluate/miou_crf": "final mIoU + CRF"}


def final_columns(df: pd.DataFrame, skip: str = "") -> dict[str, str]:
    """{metric: column name} for each final metric any trial of ``df`` reached."""
    out = {}
    for m, name in FINAL.items():
        for shown in (m.replace("evaluate/", "evaluate/report/"), m):
            if shown != skip and metric_values(df, shown).notna().any():
                out[shown] = f"ours: {name} ({shown})"
                break
    return out


def splits_note(df: pd.DataFrame, ours: dict[str, str]) -> str:
    """Which split the final columns report and which one selection may read."""
    if not any("/report/" in m for m in ours):
        return ""
    report, select = split_names(df, "data/report_split"), split_names(df, "data/select_split")
    return (f" Final columns on {report or 'the reporting split'} (held out); "
            f"selection reads {select or 'the selection split'}.")


def split_names(df: pd.DataFrame, key: str) -> str:
    """The splits the trials name under ``key`` (``data/select_split``...), "/"-joined."""
    return "/".join(sorted({str(v) for v in col(df, key).dropna() if str(v)}))


def setting_columns(df: pd.DataFrame) -> list[str]:
    """The params that make two trials different settings: all but the seed (what a cell
    averages over), speed-only keys (``device``, ``*/workers``, ...) and the searcher's
    bookkeeping (``choice/*``)."""
    skip = {"run_id", "seed", *outside_key_fields()}
    return [c for c in df.columns if c not in skip and not c.startswith(("metrics.", "choice/"))]


def cells_by(df: pd.DataFrame, metric: str, keys: pd.Series) -> dict[Any, Cell]:
    """{row key: Cell}: a cell averages trials that differ by seed only, one value per seed
    (two grids holding the same point run it once, through the cache: not two samples).
    Trials of several settings under one key (eight controllers at one α, β) fill no cell:
    it says how many."""
    settings = [repr(tuple(row)) for row in df[setting_columns(df)].itertuples(index=False)]
    groups: dict[Any, dict[str, dict[Any, float]]] = {}
    for key, value, setting, seed in zip(keys, metric_values(df, metric), settings,
                                         col(df, "seed"), strict=True):
        missing = key is None or (isinstance(key, float) and key != key)  # pandas: None -> NaN
        if not missing and value == value:
            groups.setdefault(key, {}).setdefault(setting, {}).setdefault(seed, float(value))
    return {key: Cell(list(next(iter(by.values())).values())) if len(by) == 1
            else Cell(settings=len(by)) for key, by in groups.items()}



@functools.cache
def _preset_values(method: str, preset: str, profile: str,
                   fields: tuple[str, ...]) -> tuple[Any, ...]:
    from wsss import config

    # the source of pretrained weights only decides whether a weights file must be named
    flat = config.flatten(config.resolve({"method": method, "preset": preset,
                                          "profile": profile, "pretrain/source": "synthetic"}))
    return tuple(flat[f] for f in fields)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(have: Any, want: Any) -> bool:
    if _missing(have):
        return True  # not recorded: the trial ran the default
    if isinstance(want, float) and isinstance(have, (int, float)):
        return abs(float(have) - want) < 1e-9
    return have == want or str(have) == str(want)


def at_preset(df: pd.DataFrame, fields: tuple[str, ...]) -> pd.Series:
    """True where a trial's ``fields`` hold its method's, preset's and profile's values."""
    def default(row: pd.Series) -> bool:
        def given(key: str, default: str) -> str:
            return default if _missing(row.get(key)) else str(row.get(key))

        want = _preset_values(given("method", "drs"), given("preset", "reference"),
                              given("profile", "voc"), fields)
        return all(_same(row.get(f), w) for f, w in zip(fields, want, strict=True))
    return df.apply(default, axis=1).astype(bool) if len(df) else pd.Series(dtype=bool)


def prefer_preset(df: pd.DataFrame, keys: pd.Series,
                  fields: tuple[str, ...]) -> tuple[pd.DataFrame, pd.Series]:
    """A paper's table fixes some settings (DRS: α, β) that a study may also vary: a row
    whose trials include some at the preset's values keeps only those."""
    if not len(df):
        return df, keys
    default = at_preset(df, fields)
    covered = set(keys[default].dropna())
    keep = default | ~keys.isin(covered)
    return df[keep], keys[keep]


TableBuilder = Callable[[pd.DataFrame, str], Table]


def _of_method(method: str, builder: TableBuilder) -> TableBuilder:
    """A method's table sees only that method's trials: a DRS trial has no SER rate, yet it
    is no SSENet baseline."""
    def build(df: pd.DataFrame, metric: str) -> Table:
        return builder(df[(col(df, "method") == method).to_numpy(dtype=bool)], metric)

    return functools.wraps(builder)(build)


@functools.cache
def builders() -> dict[str, TableBuilder]:
    """Every method's tables by key, from ``analysis/<method>.py`` (a missing module fails)."""
    return {key: _of_method(name, builder) for name, method in METHODS.items()
            for key, builder in importlib.import_module(method.table_module).TABLES.items()}
