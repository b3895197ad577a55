"""SSENet's tables (Wang et al., arXiv:1909.03714): Table 1 (branch rate r), Table 2 (scale
augmentation range), and the random-walk steps curve."""

from __future__ import annotations

import pandas as pd

from analysis.claims import Claim, Verdict, all_of, cell, compare
from analysis.tables import (
    Cell,
    Table,
    TableBuilder,
    cells_by,
    col,
    final_columns,
    prefer_preset,
    splits_note,
)

# what Table 1 holds at the reference's values: a study may vary them too (sse-proxy)
FIXED = ("classifier/ser_weight", "crf_labels/la_power", "crf_labels/ha_power", "random_walk/beta",
         "random_walk/steps")

# The published numbers (mIoU, %). Table 1: (CAM, CAM+rw) pseudo-label mIoU on VOC train
PAPER_TABLE1 = {"baseline": (47.3, 58.8), "0.6": (48.5, 61.5), "0.5": (48.9, 61.7),
                "0.4": (49.4, 61.8), "0.3": (49.8, 62.1), "0.2": (49.4, 61.7)}
# Table 2: CAM mIoU per (model, scale range)
PAPER_TABLE2 = {("baseline", "[448, 768]"): 47.3, ("baseline", "[224, 768]"): 46.6,
                ("SSENet (0.5)", "[448, 768]"): 48.9}


def _range_name(value) -> str | None:
    """``choice/scale_range`` as logged ("[448, 768]"), or read back as a list by YAML."""
    if isinstance(value, (list, tuple)):
        return str(list(value))
    return value if isinstance(value, str) else None


def sse_table1(df: pd.DataFrame, metric: str) -> Table:
    # Table 1 is at the paper's scale range: a Table 2 trial at another range is not a row
    df = df[[_range_name(n) in (None, "[448, 768]") for n in col(df, "choice/scale_range")]]
    rate = col(df, "classifier/ser_rate")  # SSENet stages: the SSENet issue
    keys = pd.Series(["baseline" if r is None or r != r else f"{float(r):.1f}" for r in rate],
                     index=df.index) if "classifier/ser_rate" in df else pd.Series(
                         [None] * len(df), index=df.index)
    df, keys = prefer_preset(df, keys, FIXED)
    cam, rw = cells_by(df, "cams/miou", keys), cells_by(df, "random_walk/miou", keys)
    # an extra column the paper's table has not: the segmentation net on those labels
    final = final_columns(df)
    finals = {m: cells_by(df, m, keys) for m in final}
    caption = ("Ours: CAM and CAM+rw pseudo-label mIoU (×100) on the train split"
               + (f", then {', '.join(final)} of the segmentation network trained on them"
                  if final else "") + "; paper: VOC 2012 train (%)."
               + splits_note(df, final))
    table = Table("sse1", "SSENet Table 1: branch downsampling rate", caption, ["model"],
                  ["ours CAM", "ours CAM+rw", *final.values(), "paper CAM", "paper CAM+rw"],
                  plot="line", paper_column=2 + len(final))
    for key, (p_cam, p_rw) in PAPER_TABLE1.items():
        label = "Baseline" if key == "baseline" else f"SSENet ({key})"
        ours = [cam.get(key, Cell()), rw.get(key, Cell()),
                *(by.get(key, Cell()) for by in finals.values())]
        table.rows.append(([label], [*ours, p_cam, p_rw]))
    return table


def sse_table2(df: pd.DataFrame, metric: str) -> Table:
    table = Table("sse2", "SSENet Table 2: scale augmentation range",
                  "Ours: CAM mIoU (×100); paper: VOC 2012 train (%).", ["model", "range"],
                  ["ours CAM", "paper CAM"], plot="bar")
    ranges = col(df, "classifier/scale_range")
    named = col(df, "choice/scale_range")  # the paper's range a synthetic grid stands for
    rates = col(df, "classifier/ser_rate")
    keys = pd.Series([(("baseline" if r is None or r != r else f"SSENet ({float(r):.1f})"),
                       _range_name(n) or (str(list(s)) if s is not None else None))
                      for r, s, n in zip(rates, ranges, named, strict=True)], index=df.index)
    cam = cells_by(df, "cams/miou", keys)
    for (model, rng), paper in PAPER_TABLE2.items():
        table.rows.append(([model, rng], [cam.get((model, rng), Cell()), paper]))
    return table


def rw_table(df: pd.DataFrame, metric: str) -> Table:
    """Random-walk steps t -> pseudo-label mIoU (SSENet stages)."""
    steps = col(df, "random_walk/steps")
    cells = cells_by(df, "random_walk/miou", steps)
    table = Table("rw", "Random-walk steps", "Ours: CAM+rw mIoU (×100) per number of steps t.",
                  ["t"], ["ours CAM+rw"], plot="points")
    for t in sorted(k for k in cells if k is not None):
        table.rows.append(([str(t)], [cells[t]]))
    return table


TABLES: dict[str, TableBuilder] = {"sse1": sse_table1, "sse2": sse_table2, "rw": rw_table}


# --- SSENet (Table 1 and its text) ---------------------------------------------------------
RATES = [[f"SSENet ({r})"] for r in ("0.6", "0.5", "0.4", "0.3", "0.2")]


def _ser_beats_baseline(t: dict[str, Table]) -> Verdict:
    base = cell(t["sse1"], ["Baseline"], 0)
    return all_of([compare(cell(t["sse1"], r, 0), base, r[0], "baseline") for r in RATES])


def _rw_adds(t: dict[str, Table]) -> Verdict:
    return all_of([compare(cell(t["sse1"], r, 1), cell(t["sse1"], r, 0), f"{r[0]} +rw",
                           f"{r[0]} CAM") for r in [["Baseline"], *RATES]])


def _rate_03_best(t: dict[str, Table]) -> Verdict:
    best = cell(t["sse1"], ["SSENet (0.3)"], 1)
    return all_of([compare(best, cell(t["sse1"], r, 1), "r 0.3", r[0]) for r in RATES
                   if r != ["SSENet (0.3)"]])


CLAIMS: tuple[Claim, ...] = (
    Claim("SER beats the baseline at every r (CAM)", ("sse1",), _ser_beats_baseline),
    Claim("the random walk adds to every row", ("sse1",), _rw_adds),
    Claim("r = 0.3 is best (CAM + rw)", ("sse1",), _rate_03_best),
)
