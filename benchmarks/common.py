"""What every benchmark prints beside a figure: the machine's load when it was measured."""

from __future__ import annotations

import os


def load() -> str:
    """The 1-, 5- and 15-minute load averages, e.g. ``load 0.41 0.52 0.60``."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"
