"""Optuna define-by-run spaces and the grids of the papers' tables (optuna only, no I/O)."""

from search_spaces.drs import SPACES as DRS_SPACES
from search_spaces.grids import GRIDS
from search_spaces.sse import SPACES as SSE_SPACES

SPACES = {**DRS_SPACES, **SSE_SPACES}
# the pipeline each space or grid belongs to, and the metric a study of it optimises
METHOD = {**dict.fromkeys(DRS_SPACES, "drs"), **dict.fromkeys(SSE_SPACES, "ssenet"),
          "drs1": "drs", "drs2": "drs", "sse1": "ssenet", "sse2": "ssenet",
          "sse2-synthetic": "ssenet"}
OBJECTIVE = {"drs": "pseudo/miou", "ssenet": "rw/miou"}

__all__ = ["GRIDS", "METHOD", "OBJECTIVE", "SPACES"]
