"""One PNG per table, of the kind its builder names (``Table.plot``): a line over the rows
(ours beside the paper's), bars, a heat-map or plain points."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from analysis.tables import Cell, Table  # noqa: E402


def _ours(t: Table, column: int = 0) -> tuple[list[float], list[float]]:
    means, stds = [], []
    for _, cells in t.rows:
        c = cells[column]
        means.append(c.mean * t.scale if isinstance(c, Cell) and c.n else math.nan)
        stds.append(c.std * t.scale if isinstance(c, Cell) and c.n > 1 else 0.0)
    return means, stds


def _paper(t: Table, column: int) -> list[float]:
    return [c if isinstance(c, (int, float)) else math.nan for _, c in
            ((labels, cells[column]) for labels, cells in t.rows)]


def _twin(t: Table, x: list, labels: list[str], kind: str, paper_col: int) -> plt.Figure:
    """Ours on the left axis, the paper's on the right: different metrics, same shape."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    means, stds = _ours(t)
    paper = _paper(t, paper_col)
    if kind == "bar":
        pos = list(range(len(x)))
        ax.bar([p - 0.2 for p in pos], means, 0.4, yerr=stds, label="ours", color="#3b75af")
        ax2 = ax.twinx()
        ax2.bar([p + 0.2 for p in pos], paper, 0.4, label="paper", color="#ef8636")
        ax.set_xticks(pos, labels)
    else:  # leading rows that are not on the x axis (DRS "learnable") are drawn apart
        cut = t.offaxis_rows
        ax.errorbar(x[cut:], means[cut:], yerr=stds[cut:], marker="o", label="ours",
                    color="#3b75af")
        ax2 = ax.twinx()
        ax2.plot(x[cut:], paper[cut:], marker="s", linestyle="--", label="paper",
                 color="#ef8636")
        if cut:
            ax.errorbar(x[:cut], means[:cut], yerr=stds[:cut], marker="o", color="#3b75af")
            ax2.plot(x[:cut], paper[:cut], marker="s", color="#ef8636")
            ax.axvline(0.5, color="grey", linewidth=0.5)
        ax.set_xticks(x, labels)
    ax.set_ylabel(t.columns[0], color="#3b75af")
    ax2.set_ylabel("paper (%)", color="#ef8636")
    ax.set_title(t.title, fontsize=10)
    fig.tight_layout()
    return fig


def _marks(labels: list[str]) -> str:
    """A row of ✓ / - columns as the span of its ticked columns ("4-6"; "none")."""
    ticked = [i + 1 for i, mark in enumerate(labels) if mark == "✓"]
    if not ticked:
        return "none"
    return str(ticked[0]) if len(ticked) == 1 else f"{ticked[0]}-{ticked[-1]}"


def plot(t: Table, out: Path) -> Path | None:
    """Write the table's figure to ``out``; None when the table has nothing to draw."""
    labels = [" ".join(lab) for lab, _ in t.rows]
    if t.plot == "line":
        ticks = [s.replace("δ = ", "") for s in labels]
        fig = _twin(t, list(range(len(labels))), ticks, "line", t.paper_column)
    elif t.plot == "bar":
        names = [lab[0] if len(lab) == 1 else _marks(lab) for lab, _ in t.rows]
        fig = _twin(t, names, names, "bar", t.paper_column)
    elif t.plot == "heat" and t.rows:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        grid = [[c.mean * t.scale if c.n else math.nan for c in cells] for _, cells in t.rows]
        im = ax.imshow(grid, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(t.columns)), t.columns, rotation=45)
        ax.set_yticks(range(len(t.rows)), [lab[0] for lab, _ in t.rows])
        ax.set_xlabel("β (saliency background)")
        ax.set_ylabel("α (object cue)")
        fig.colorbar(im, label=t.caption.split(";")[0].removeprefix("Ours: "))
        ax.set_title(t.title, fontsize=10)
        fig.tight_layout()
    elif t.plot == "points" and t.filled:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        means, stds = _ours(t)
        ax.errorbar(range(len(labels)), means, yerr=stds, marker="o")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_title(t.title, fontsize=10)
        fig.tight_layout()
    else:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
