"""A search's best setting against the paper's, re-run on more seeds (docs/search.md).

A search selects on the selection split with one seed, so its best trial is an optimistic
estimate. ``confirm`` re-runs the best setting and the paper's hand-tuned one as a two-point
study per seed (``StudySpec.points``), through the shared stage cache, and the comparison
(``analysis.confirm``) reads the held-out reporting split, which no search ever read.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import optuna

from study.spec import Home, StudySpec


def best_point(study: str, storage_url: str, space: Any) -> tuple[dict[str, Any], float]:
    """The overrides of the search's best finished trial (Optuna's value: the objective) and
    that value. The space is replayed on the trial's parameters, so what it returns beside
    them (a placement's layers, DRS off when no layer is chosen) is part of the point."""
    from study.stores import open_optuna

    ot = optuna.load_study(study_name=study, storage=open_optuna(storage_url))
    best = ot.best_trial  # COMPLETE trials only: pruned ones never reached the objective
    extra = space(optuna.trial.FixedTrial(best.params)) or {}
    point = {k: v for k, v in best.params.items() if not k.startswith("choice/")}
    return {**point, **extra}, float(best.value)


def spent(home: Home, study: str) -> float:
    """Stage-seconds a study computed: each trial's last ``cost_seconds`` (Tune's records)."""
    from ray.tune import ExperimentAnalysis

    from trainables.context import COST

    trials = ExperimentAnalysis(str(home.results / study)).trials
    return sum(float((t.last_result or {}).get(COST, 0.0)) for t in trials)


def confirm(name: str, points: dict[str, dict[str, Any]], seeds: list[int],
            template: StudySpec, home: Home) -> list[str]:
    """One study of ``points`` per seed (``<name>-s<seed>``), reused when finished, resumed
    when interrupted, refused when it exists with other points or settings."""
    from study.commands import _init_ray, sized
    from study.runner import launch

    names = []
    for seed in seeds:
        fresh = dataclasses.replace(
            template, name=f"{name}-s{seed}", points=points, grid="", sampler="grid",
            asha=False, rungs=[], budget=0.0, seed=seed, status="created",
            overrides={**template.overrides, "seed": seed},
            created=time.strftime("%Y-%m-%dT%H:%M:%S"))
        names.append(fresh.name)
        known = home.spec_path(fresh.name).exists()
        spec = home.load(fresh.name) if known else fresh
        if known and _what(spec) != _what(fresh):
            raise FileExistsError(f"study {fresh.name!r} exists with other points or settings; "
                                  "remove it or choose another --name")
        if spec.status == "complete":
            print(f"[{spec.name}] complete: reused")
            continue
        _init_ray(home)
        spec, res = sized(spec)
        home.save(spec)
        summary = launch(spec, home, resume=known, res=res)
        print(f"[{spec.name}] {summary['status']}: {summary['trials']} trials", flush=True)
    return names


def _what(spec: StudySpec) -> Any:
    """What a confirmation study computes (JSON turns tuples into lists: compare as JSON)."""
    return json.loads(json.dumps([spec.points, spec.overrides, spec.objective, spec.until,
                                  spec.space], default=str))
