"""DRS's tables (Kim, Han & Kim, AAAI 2021): Table 1 (controller), Table 2 (placement), and
the pseudo-label threshold grid that neither paper has."""

from __future__ import annotations

import pandas as pd

from analysis.tables import Cell, Table, TableBuilder, cells_by, col
from wsss.config import LAYERS
from wsss.methods.drs import PLACEMENTS

# The published numbers (mIoU, %). Table 1: DeepLab-LargeFOV val mIoU per controller
PAPER_TABLE1 = {"learnable": 62.9, "delta=0.90": 51.9, "delta=0.80": 56.0, "delta=0.70": 58.7,
                "delta=0.60": 62.3, "delta=0.55": 62.8, "delta=0.50": 62.3, "delta=0.40": 59.6}
# Table 2: placements (learnable, no refinement)
PAPER_TABLE2 = {"none": 50.1, "6": 60.8, "5-6": 62.2, "4-6": 62.8, "3-6": 62.9, "2-6": 62.7,
                "1-6": 62.9, "1-5": 58.2, "1-4": 53.6}


def _controller_key(row: pd.Series) -> str | None:
    if row.get("classifier/drs") == "learnable":
        return "learnable"
    if row.get("classifier/drs") == "constant":
        return f"delta={float(row['classifier/drs_delta']):.2f}"
    return None


def drs_table1(df: pd.DataFrame, metric: str) -> Table:
    full = df[[tuple(v or ()) == LAYERS for v in col(df, "classifier/drs_layers")]]
    cells = cells_by(full, metric, full.apply(_controller_key, axis=1) if len(full) else
                   pd.Series(dtype=object))
    table = Table("drs1", "DRS Table 1: suppression controller",
                  f"Ours: {metric} (×100) per controller, DRS in layer1-6; paper: DeepLab-"
                  "LargeFOV val mIoU (%).", ["controller"], [f"ours ({metric})", "paper"],
                  plot="line", offaxis_rows=1)
    extra = sorted(k for k in cells if k not in PAPER_TABLE1)
    for key in [*PAPER_TABLE1, *extra]:
        label = key.replace("delta=", "δ = ")
        table.rows.append(([label], [cells.get(key, Cell()), PAPER_TABLE1.get(key)]))
    return table


def _placement_key(row: pd.Series) -> str | None:
    if row.get("classifier/drs") == "none":
        return "none"
    if row.get("classifier/drs") != "learnable":
        return None
    layers = tuple(row.get("classifier/drs_layers") or ())
    return next((k for k, v in PLACEMENTS.items() if v == layers and k != "none"), None)


def drs_table2(df: pd.DataFrame, metric: str) -> Table:
    cells = cells_by(df, metric, df.apply(_placement_key, axis=1) if len(df) else
                   pd.Series(dtype=object))
    table = Table("drs2", "DRS Table 2: where DRS is placed",
                  f"Ours: {metric} (×100), learnable controller; paper: DeepLab-LargeFOV val "
                  "mIoU (%), no refinement.", list(LAYERS), [f"ours ({metric})", "paper"],
                  plot="bar")
    for name, layers in PLACEMENTS.items():
        marks = ["✓" if g in layers else "-" for g in LAYERS]
        table.rows.append((marks, [cells.get(name, Cell()), PAPER_TABLE2[name]]))
    return table


def thresholds_table(df: pd.DataFrame, metric: str) -> Table:
    """What neither paper has: pseudo-label mIoU over the alpha x beta grid."""
    alphas = sorted({float(a) for a in col(df, "pseudo/alpha").dropna()})
    betas = sorted({float(b) for b in col(df, "pseudo/beta").dropna()})
    keys = pd.Series(list(zip(col(df, "pseudo/alpha"), col(df, "pseudo/beta"), strict=True)),
                     index=df.index)
    cells = cells_by(df, metric, keys)
    table = Table("thresholds", "Pseudo-label thresholds α × β",
                  f"Ours: {metric} (×100); rows α (object cue), columns β (saliency).",
                  ["α \\ β"], [f"{b:.2f}" for b in betas], plot="heat")
    for a in alphas:
        table.rows.append(([f"{a:.2f}"], [cells.get((a, b), Cell()) for b in betas]))
    return table


TABLES: dict[str, TableBuilder] = {"drs1": drs_table1, "drs2": drs_table2,
                                   "thresholds": thresholds_table}
