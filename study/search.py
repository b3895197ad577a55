"""OptunaSearch wiring: RDB storage (so optuna-dashboard can read it), grids through Optuna's
GridSampler, and trials stopped early by ASHA recorded as PRUNED, not COMPLETE."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from search_spaces import SPACES, method_of
from study.scheduler import StageBudget
from study.stores import open_optuna

if TYPE_CHECKING:
    from study.spec import StudySpec

log = logging.getLogger(__name__)


class PruneAwareOptunaSearch(OptunaSearch):
    """A trial that ends before ``final_step`` (stopped by ASHA) is told PRUNED.

    Stock OptunaSearch tells COMPLETE with the early value, and TPE would then read a CAM
    score as a final pseudo-label score (docs/architecture.md, "Layers and what each may import").
    """

    def __init__(self, *args: Any, final_step: int, step_key: str = "stage",
                 budget: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._final_step, self._step_key = final_step, step_key
        self.budget = StageBudget(budget)  # saved with the searcher, so a resume knows it

    def suggest(self, trial_id: str) -> dict | str | None:
        """As OptunaSearch, and the Optuna trial remembers its Tune trial (``ray_trial_id``)
        so a resumed study can tell which RUNNING trials a dead driver left behind. Once the
        study's stage-seconds reach its budget, no new trial starts (running ones finish)."""
        if self.budget.exhausted:
            return Searcher.FINISHED
        config = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if config is not None and ot_trial is not None:
            ot_trial.set_user_attr("ray_trial_id", trial_id)
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.budget.record(trial_id, result)
        super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        if result:
            self.budget.record(trial_id, result)
        if (result and not error and trial_id not in self._completed_trials
                and result.get(self._step_key, self._final_step) < self._final_step):
            trial = self._ot_trials[trial_id]
            self._completed_trials.add(trial_id)
            trial.report(result[self.metric], result[self._step_key])
            try:
                self._ot_study.tell(trial, None, state=TrialState.PRUNED)
            except RuntimeError as err:  # GridSampler's study.stop() once the grid is done,
                log.debug("after PRUNED: %s", err)  # after the state is stored (as Tune's)
            return
        super().on_trial_complete(trial_id, result, error)


class GridSpace:
    """Define-by-run over a grid's named points (picklable: Tune saves the searcher)."""

    def __init__(self, points: dict[str, dict[str, Any]]) -> None:
        self.points = points

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return dict(self.points[trial.suggest_categorical("choice/grid", list(self.points))])


def space_function(spec: StudySpec) -> Callable[[optuna.Trial], dict[str, Any]]:
    """The define-by-run function: a named space, or a grid's points by name."""
    method_of(spec.grid or spec.space)  # an unknown name fails here, listing the known ones
    points = spec.grid_points
    return GridSpace(points) if points else SPACES[spec.space]


def tpe_sampler(seed: int) -> optuna.samplers.TPESampler:
    """TPE as a study uses it; the constant liar gives trials still running a pessimistic
    value, so trials proposed side by side (one per GPU) do not all go to one spot
    (docs/search.md, "Trials side by side")."""
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                      constant_liar=True)


def build_searcher(space: Callable, spec: StudySpec, storage_url: str, *,
                   final_step: int) -> PruneAwareOptunaSearch:
    sampler: optuna.samplers.BaseSampler
    points = spec.grid_points
    kind = spec.sampler or ("grid" if points else "tpe")
    if kind == "grid":  # every point exactly once, in a seeded order
        if not points:
            raise ValueError("sampler 'grid' needs --grid")
        sampler = optuna.samplers.GridSampler({"choice/grid": list(points)},
                                              seed=spec.seed)
    elif kind == "random":
        sampler = optuna.samplers.RandomSampler(seed=spec.seed)
    elif kind == "tpe":  # on a grid: TPE over its points
        sampler = tpe_sampler(spec.seed)
    else:
        raise ValueError(f"unknown sampler {spec.sampler!r}; known: grid, random, tpe")
    storage = open_optuna(storage_url)
    if spec.name in {s.study_name for s in optuna.get_all_study_summaries(storage)} \
            and spec.status == "created":
        raise FileExistsError(f"an Optuna study named {spec.name!r} already exists in "
                              f"{storage_url}; study names are unique")
    return PruneAwareOptunaSearch(space, metric="score", mode="max", sampler=sampler,
                                  study_name=spec.name, storage=storage, seed=spec.seed,
                                  final_step=final_step, budget=spec.budget)
