"""Stage-aware early stopping and the study's compute budget.

``StageRungScheduler`` is asynchronous successive halving whose rungs are named pipeline
stages, not powers of a time unit: a trial is judged only after the stages whose metric is
known to rank configurations like the final metric (``benchmarks/proxy_correlation.py``,
docs/search.md). ``StageBudget`` counts what a study computed in stage-seconds; a cache hit
costs nothing, because nothing was computed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from trainables.context import COST


class StageRungScheduler(FIFOScheduler):
    """At each rung stage a trial goes on only if its ``score`` (higher is better, see
    ``trainables.pipeline.rung_score``) is within the top ``1 / reduction_factor`` of the
    scores every trial has had at that rung so far (asynchronous successive halving).

    Rungs are stage names (the trainable reports ``stage_name``), not positions: a trial
    with DRS† has one stage more than one without, and the same rung must judge both at
    the same stage."""

    def __init__(self, rungs: Sequence[str], *, metric: str = "score",
                 reduction_factor: float = 2.0, name_key: str = "stage_name") -> None:
        super().__init__()
        if reduction_factor <= 1:
            raise ValueError(f"reduction_factor must be > 1, got {reduction_factor}")
        self.rungs = tuple(rungs)
        self._metric, self._name_key, self._rf = metric, name_key, reduction_factor
        self._recorded: dict[str, dict[str, float]] = {stage: {} for stage in self.rungs}

    def set_search_properties(self, metric: str | None, mode: str | None,
                              **spec: Any) -> bool:
        if mode not in (None, "max") or metric not in (None, self._metric):
            return False  # rung scores are oriented for "max" by the trainable
        return True

    def decide(self, trial_id: str, stage: str, score: float) -> str:
        """CONTINUE or STOP for a trial that finished ``stage`` with ``score`` (recorded
        once per trial and rung)."""
        if stage not in self._recorded or not math.isfinite(score):
            return TrialScheduler.CONTINUE
        seen = self._recorded[stage]
        seen.setdefault(trial_id, score)  # a retried trial does not vote twice
        if len(seen) < self._rf:  # too few to rank against
            return TrialScheduler.CONTINUE
        cutoff = float(np.percentile(list(seen.values()), 100 * (1 - 1 / self._rf)))
        return TrialScheduler.CONTINUE if seen[trial_id] >= cutoff else TrialScheduler.STOP

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if self._name_key not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        return self.decide(trial.trial_id, str(result[self._name_key]),
                           float(result[self._metric]))

    def debug_string(self) -> str:
        counts = ", ".join(f"{stage}: {len(seen)}" for stage, seen in self._recorded.items())
        return f"StageRungScheduler(trials judged at {counts})"


class StageBudget:
    """Stage-seconds spent by a study: each trial's latest cumulative ``cost_seconds``."""

    def __init__(self, budget: float) -> None:
        self.budget = float(budget)
        self._spent: dict[str, float] = {}

    def record(self, trial_id: str, result: dict) -> None:
        if COST in result:
            self._spent[trial_id] = float(result[COST])

    @property
    def spent(self) -> float:
        return sum(self._spent.values())

    @property
    def exhausted(self) -> bool:
        return self.budget > 0 and self.spent >= self.budget
