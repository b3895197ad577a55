"""Optuna define-by-run spaces and the grids of the papers' tables (optuna only, no I/O).

Each method's spaces live in its ``Method.space_module`` (``search_spaces/<method name>.py``:
a ``SPACES`` dict); its grids are data of its ``wsss.methods`` module. Both are collected here
from ``METHODS``, so adding a method adds no line to this file (docs/adding-a-method.md).
"""

from __future__ import annotations

import importlib
from typing import Any

from wsss.methods import METHODS, Method

SPACE_MODULES = {name: importlib.import_module(m.space_module) for name, m in METHODS.items()}
SPACES: dict[str, Any] = {}
GRIDS: dict[str, dict[str, dict[str, Any]]] = {}
METHOD_OF: dict[str, Method] = {}  # space or grid name -> the method it belongs to
for _name, _method in METHODS.items():
    for _space, _fn in SPACE_MODULES[_name].SPACES.items():
        SPACES[_space], METHOD_OF[_space] = _fn, _method
    for _grid, _points in _method.grids.items():
        GRIDS[_grid], METHOD_OF[_grid] = dict(_points), _method


def method_of(space_or_grid: str) -> Method:
    """The method a space or grid belongs to; an unknown name lists the known ones."""
    if space_or_grid not in METHOD_OF:
        raise KeyError(f"unknown search space or grid {space_or_grid!r}; spaces: "
                       f"{', '.join(sorted(SPACES))}; grids: {', '.join(sorted(GRIDS))}")
    return METHOD_OF[space_or_grid]


__all__ = ["GRIDS", "METHOD_OF", "SPACES", "method_of"]
