"""Figures that read: one mIoU axis (no twin axis rescaling the paper's numbers to ours) and
tick labels that do not collide, for every paper table, filled or not."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from analysis import plots
from analysis.drs import drs_table1, drs_table2, drs_table3
from analysis.ssenet import sse_table1, sse_table2
from analysis.tables import Cell

BUILDERS = {"drs1": drs_table1, "drs2": drs_table2, "drs3": drs_table3, "sse1": sse_table1,
            "sse2": sse_table2}


def _filled(table):
    """Every cell of ours filled with a made-up value (the figure's layout is under test)."""
    for i, (_, cells) in enumerate(table.rows):
        for j in range(table.paper_column):
            cells[j] = Cell([0.5 + 0.01 * i + 0.02 * j])
    return table


@pytest.mark.parametrize("key", list(BUILDERS))
def test_one_axis_and_no_colliding_tick_labels(key: str) -> None:
    table = _filled(BUILDERS[key](pd.DataFrame({"method": []}), "pseudo_labels/miou"))
    fig = plots.figure(table)
    try:
        assert len(fig.axes) == 1  # no twinx
        ax = fig.axes[0]
        assert ax.get_ylabel() == "mIoU (%)"
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == table.columns  # every series named as its table column
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert len(boxes) == len(table.rows)
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), (key, a, b)
        # the paper's numbers are drawn on the same scale as ours: their values are on the axis
        low, high = ax.get_ylim()
        papers = [c for _, cells in table.rows for c in cells[table.paper_column:]
                  if isinstance(c, float)]
        assert papers and low <= min(papers) and max(papers) <= high
    finally:
        plt.close(fig)
