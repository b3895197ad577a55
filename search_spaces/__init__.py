"""Optuna define-by-run spaces and the grids of the papers' tables (optuna only, no I/O)."""

from search_spaces.drs import SPACES
from search_spaces.grids import GRIDS

__all__ = ["GRIDS", "SPACES"]
