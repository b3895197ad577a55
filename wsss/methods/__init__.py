"""The WSSS methods this project reproduces: one module and one frozen ``Method`` each.

A ``Method`` owns everything method-specific (see ``docs/adding-a-method.md``): its config
overlay on the shared defaults, its paper-vs-code presets, its per-profile overlays, its
weak-label stage chain, its classifier training step, its default objective and the grids of
its papers' tables. Its search spaces live in ``search_spaces/<name>.py`` and its tables in
``analysis/<name>.py``; ``tests/wsss/test_methods.py`` fails if a method lacks either.

These modules never import torch at import time (the study driver, ``wsss config`` and
``analysis`` read them without paying for it); training steps import what they need.
"""

from __future__ import annotations

from wsss.methods.base import Method, Step
from wsss.methods.drs import DRS
from wsss.methods.ssenet import SSENET

METHODS: dict[str, Method] = {"drs": DRS, "ssenet": SSENET}


def method_of_grid(grid: str) -> Method:
    """The method whose papers' table a grid reproduces."""
    for method in METHODS.values():
        if grid in method.grids:
            return method
    known = sorted(g for m in METHODS.values() for g in m.grids)
    raise KeyError(f"unknown grid {grid!r}; known: {', '.join(known)}")


__all__ = ["METHODS", "Method", "Step", "method_of_grid"]
