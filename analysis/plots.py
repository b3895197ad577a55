"""One PNG per table, of the kind its builder names (``Table.plot``): lines over the rows or
grouped bars (each of our columns and the paper's on one mIoU axis, no twin axis that would
rescale them to look alike), a heat-map or plain points. Tick labels that would collide are
turned."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from analysis.tables import Cell, Table  # noqa: E402

OURS_COLOURS = ("#3b75af", "#519e3e", "#8d69b8", "#c43e3e")  # blue, green, purple, red
PAPER_COLOURS = ("#ef8636", "#b5651d", "#f2b134", "#7f4f24")  # oranges and browns


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


def _ticks(ax: plt.Axes, labels: list[str]) -> None:
    """Row names on the x axis, turned when the longest would not fit its slot."""
    long = max((len(s) for s in labels), default=0) * len(labels) > 60
    ax.set_xticks(range(len(labels)), labels, rotation=30 if long else 0,
                  ha="right" if long else "center", fontsize=8)


def _against_paper(t: Table, labels: list[str], kind: str) -> plt.Figure:
    """Our columns, then the paper's (``t.paper_column`` on), on one axis (all mIoU, %); the
    legend names each series."""
    columns = t.columns
    per_row = 0.25 * len(columns) if kind == "bar" else 0.6
    fig, ax = plt.subplots(figsize=(max(5.0, per_row * len(labels)) + 2.6, 4.0))
    x = list(range(len(labels)))
    width = 0.8 / len(columns)
    cut = t.offaxis_rows  # leading rows that are not on the x axis (DRS "learnable")
    for j, name in enumerate(columns):
        is_paper = j >= t.paper_column
        means, stds = (_paper(t, j), [0.0] * len(x)) if is_paper else _ours(t, j)
        colour = (PAPER_COLOURS if is_paper else OURS_COLOURS)[
            (j - t.paper_column if is_paper else j) % 4]
        if kind == "bar":
            ax.bar([p + (j - (len(columns) - 1) / 2) * width for p in x], means, width,
                   yerr=None if is_paper else stds, label=name, color=colour)
            continue
        style = dict(marker="s" if is_paper else "o", color=colour,
                     linestyle="--" if is_paper else "-")
        ax.errorbar(x[cut:], means[cut:], yerr=stds[cut:], label=name, **style)
        if cut:
            ax.errorbar(x[:cut], means[:cut], yerr=stds[:cut], **{**style, "linestyle": ""})
    if cut and kind != "bar":
        ax.axvline(cut - 0.5, color="grey", linewidth=0.5)
    _ticks(ax, labels)
    ax.set_ylabel("mIoU (%)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # never over data
    ax.set_title(t.title, fontsize=10)
    fig.tight_layout()
    return fig


def _marks(labels: list[str]) -> str:
    """A row of ✓ / - columns as the span of its ticked columns ("4-6"; "none")."""
    ticked = [i + 1 for i, mark in enumerate(labels) if mark == "✓"]
    if not ticked:
        return "none"
    return str(ticked[0]) if len(ticked) == 1 else f"{ticked[0]}-{ticked[-1]}"


def figure(t: Table) -> plt.Figure | None:
    """The table's figure; None when the table has nothing to draw."""
    labels = [" ".join(lab) for lab, _ in t.rows]
    if t.plot == "line":
        fig = _against_paper(t, [s.replace("δ = ", "") for s in labels], "line")
    elif t.plot == "bar":
        names = [_marks(lab) if set(lab) <= {"✓", "-"} else " ".join(lab) for lab, _ in t.rows]
        fig = _against_paper(t, names, "bar")
    elif t.plot == "heat" and t.rows:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        grid = [[c.mean * t.scale if c.n else math.nan for c in cells] for _, cells in t.rows]
        im = ax.imshow(grid, cmap="viridis", aspect="auto")
        _ticks(ax, t.columns)
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
        _ticks(ax, labels)
        ax.set_ylabel(t.caption.split(";")[0].removeprefix("Ours: "), fontsize=8)
        ax.set_title(t.title, fontsize=10)
        fig.tight_layout()
    else:
        return None
    return fig


def plot(t: Table, out: Path) -> Path | None:
    """Write the table's figure to ``out``; None when the table has nothing to draw."""
    fig = figure(t)
    if fig is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
