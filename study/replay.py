"""Search strategies replayed on a finished study's records (a tabular benchmark).

Every configuration of a grid has been run once to the final metric (a proxy study); its
stage records hold, per stage, the cache key, the seconds it took to produce and the stage's
metric. A search strategy (grid order, random, TPE, TPE with stage-aware successive
halving) is then replayed against those records with the very samplers and scheduler a
study uses: a trial "runs" its stages in order, paying a stage's recorded seconds unless an
earlier trial of the same search produced the same key (the cache makes it free), and stops
where the scheduler says so. Nothing is re-trained, so strategies can be compared over many
search seeds; every number is a sum of measured stage times (docs/search.md).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState
from ray.tune.schedulers import TrialScheduler

from study.scheduler import StageRungScheduler

STOP = TrialScheduler.STOP


@dataclass(frozen=True)
class StageRecord:
    stage: str
    key: str  # cache key: two trials with the same key share the work
    seconds: float  # what producing it took (from the cache manifest)
    score: float  # the stage's headline metric, higher is better (losses negated)


@dataclass(frozen=True)
class PointRecord:
    name: str  # the grid point (``choice/grid``)
    stages: tuple[StageRecord, ...]
    final: float  # the objective, on the selection split


def load_points(study: str, home_cache: Path, objective: str,
                tracking_uri: str | None = None) -> dict[str, PointRecord]:
    """Each finished trial of ``study`` as a PointRecord, by grid point."""
    import mlflow

    from analysis.importance import STAGE_SCORES
    from analysis.runs import current_names, current_stage

    headline = {stage: (metric, up) for stage, metric, up in STAGE_SCORES}
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(experiment_names=[study])
    runs = runs.rename(columns=current_names)  # an older study's records, as today's
    trials = runs[(runs["tags.kind"] == "trial") & (runs.status == "FINISHED")]
    stages = runs[runs["tags.kind"] == "stage"]
    points = {}
    for _, trial in trials.iterrows():
        final = trial.get(f"metrics.{objective}")
        if final is None or not math.isfinite(final):
            continue
        own = stages[stages["tags.ray.trial_id"] == trial["tags.ray.trial_id"]]
        own = own.sort_values("start_time").rename(columns=current_names)
        records = []
        for _, run in own.iterrows():
            stage, key = current_stage(run["tags.stage"]), run["tags.cache_key"]
            metric, up = headline[stage]
            value = float(run.get(f"metrics.{metric}", math.nan))
            score = value if up else -value  # as trainables.pipeline.rung_score
            folder = run["tags.stage"]  # the cache folder it was written to, then
            records.append(StageRecord(stage, key, _produced_seconds(home_cache, folder, key,
                                                                     run), score))
        points[str(trial["params.choice/grid"])] = PointRecord(
            str(trial["params.choice/grid"]), tuple(records), float(final))
    return points


def _produced_seconds(cache: Path, stage: str, key: str, run) -> float:
    manifest = cache / stage / key / "manifest.json"
    if manifest.exists():
        return float(json.loads(manifest.read_text())["seconds"])
    return float(run.get("metrics.stage_seconds", math.nan))  # the entry was collected


@dataclass(frozen=True)
class SearchTrace:
    """One replayed search: cumulative cost and best final value as each trial ends."""

    costs: tuple[float, ...]
    best: tuple[float, ...]  # best finished (not stopped) trial so far; -inf before one
    walls: tuple[float, ...] = ()  # when each trial ended: seconds since the search began

    def cost_to_reach(self, target: float) -> float:
        for cost, best in zip(self.costs, self.best, strict=True):
            if best >= target:
                return cost
        return math.inf

    def wall_to_reach(self, target: float) -> float:
        for wall, best in zip(self.walls, self.best, strict=True):
            if best >= target:
                return wall
        return math.inf


def _sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "tpe":  # as study.search builds it
        from study.search import tpe_sampler

        return tpe_sampler(seed)
    raise ValueError(f"unknown sampler {kind!r}")


def replay(points: dict[str, PointRecord], sampler: str, seed: int, *, trials: int,
           rungs: Sequence[str] = (), reduction_factor: float = 2.0,
           at_once: int = 1) -> SearchTrace:
    """Run ``trials`` trials of a search over the points (``sampler``: grid, random or tpe;
    ``rungs``: stage-aware successive halving at those stages), ``at_once`` side by side:
    each is proposed before the ones running have ended (TPE's constant liar sees them)."""
    names = sorted(points)
    if sampler == "grid":  # every point once, in a seeded order (GridSampler's role)
        order = iter([names[i] for i in np.random.default_rng(seed).permutation(len(names))])
        return _run(points, lambda: (next(order), None), lambda *_: None, len(names), rungs,
                    reduction_factor, at_once)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=_sampler(sampler, seed))
    space = {"choice/grid": CategoricalDistribution(names)}

    def ask() -> tuple[str, optuna.trial.Trial]:
        trial = study.ask(space)
        return str(trial.params["choice/grid"]), trial

    def tell(trial: optuna.trial.Trial, value: float | None, step: int | None,
             score: float) -> None:
        if value is None:  # stopped at a rung: PRUNED with the rung's score, as a study does
            trial.report(score, step)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, value)

    return _run(points, ask, tell, trials, rungs, reduction_factor, at_once)


def _run(points: dict[str, PointRecord], ask: Callable[[], tuple[str, Any]],
         tell: Callable[[Any, float | None, int | None, float], None], trials: int,
         rungs: Sequence[str], reduction_factor: float, at_once: int = 1) -> SearchTrace:
    """Trials on ``at_once`` lanes in simulated time: a lane's trial runs its stages in order
    (a stage another trial produced is free, one it is producing is waited for), stops where
    the scheduler says so, is told when it ends, and the lane asks for the next."""
    scheduler = StageRungScheduler(rungs, reduction_factor=reduction_factor) if rungs else None
    produced: dict[tuple[str, str], float] = {}  # (stage, key) -> when it is (was) ready
    spent, best, asked = 0.0, -math.inf, 0
    costs, bests, walls = [], [], []
    lanes: list[tuple[float, int, dict]] = []  # (time its current stage ends, lane, state)

    def start(now: float, lane: int) -> None:
        nonlocal asked
        name, handle = ask()
        heapq.heappush(lanes, (now, lane, {"point": points[name], "step": 0,
                                           "handle": handle, "number": asked}))
        asked += 1

    for lane in range(min(at_once, trials)):
        start(0.0, lane)
    while lanes:
        now, lane, state = heapq.heappop(lanes)
        point, step = state["point"], state["step"]
        if step > 0:  # the stage before this one has just ended: a rung?
            rec = point.stages[step - 1]
            if scheduler and scheduler.decide(str(state["number"]), rec.stage,
                                              rec.score) == STOP:
                tell(state["handle"], None, step, rec.score)
                costs.append(spent), bests.append(best), walls.append(now)
                if asked < trials:
                    start(now, lane)
                continue
        if step == len(point.stages):  # finished
            best = max(best, point.final)
            tell(state["handle"], point.final, None, point.final)
            costs.append(spent), bests.append(best), walls.append(now)
            if asked < trials:
                start(now, lane)
            continue
        rec = point.stages[step]
        ready = produced.get((rec.stage, rec.key))
        if ready is None:  # compute it (a cache hit costs nothing)
            spent += rec.seconds
            ready = produced[(rec.stage, rec.key)] = now + rec.seconds
        state["step"] = step + 1
        heapq.heappush(lanes, (max(now, ready), lane, state))
    return SearchTrace(tuple(costs), tuple(bests), tuple(walls))
