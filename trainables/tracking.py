"""MLflow from inside a trial: one run per trial (child of the study run), one child run per
stage execution or cache hit. Idempotent across retries and restores (found by tags), always
ended, and a tracking outage costs telemetry, never the trial."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import mlflow

from trainables.context import StudyContext
from wsss.cache import CacheEntry
from wsss.keys import flatten

log = logging.getLogger(__name__)
STUDY_RUN = "wsss.study_run_id"  # a trial run's tag: the study run holding its tables
STOPPED = "wsss.stopped_at_rung"  # a trial run's tag: halted by the scheduler, not failed


# how a varied key reads in a trial run's name (the rest: the key's last part)
SHORT = {"classifier/drs": "drs", "classifier/drs_delta": "δ", "classifier/drs_layers": "layers",
         "classifier/ser_rate": "r", "classifier/scale_range": "scales", "pseudo/alpha": "α",
         "pseudo/beta": "β", "random_walk/beta": "rw β", "random_walk/steps": "t",
         "refine/enabled": "refine"}


def run_name(trial_config: Mapping[str, Any]) -> str:
    """A trial's name in MLflow from what it varies within its study, e.g.
    ``drs=constant δ=0.55 α=0.2`` (a choice's label stands for the values it expands to)."""
    flat = flatten(trial_config)
    labels = {k.removeprefix("choice/"): v for k, v in flat.items() if k.startswith("choice/")}
    parts = []
    for key, value in flat.items():
        if key.startswith("choice/"):
            continue
        leaf = key.split("/")[-1]
        shown = labels.get(leaf, value)
        parts.append(f"{SHORT.get(key, leaf)}={_short(shown)}")
    return " ".join(parts)[:250]


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, str) and v.startswith("layer") for v in value):
        ids = [int(v.removeprefix("layer")) for v in value]
        if ids == list(range(ids[0], ids[-1] + 1)):
            return str(ids[0]) if len(ids) == 1 else f"{ids[0]}-{ids[-1]}"
        return ",".join(map(str, ids))
    return "none" if value is None else str(value)


def _find(ctx: StudyContext, filter_string: str) -> str | None:
    runs = mlflow.search_runs([ctx.experiment_id], filter_string=filter_string)
    return str(runs.run_id.iloc[0]) if len(runs) else None


@contextlib.contextmanager
def trial_run(ctx: StudyContext, trial_id: str, trial_name: str,
              params: Mapping[str, Any]) -> Iterator[str]:
    mlflow.set_tracking_uri(ctx.tracking_uri)
    mlflow.set_experiment(experiment_id=ctx.experiment_id)  # else nested runs go to "Default"
    existing = _find(ctx, f"tags.`ray.trial_id` = '{trial_id}' and tags.kind = 'trial'")
    # top-level runs, tied to the study run by a tag: MLflow's UI folds a parent's children
    # away, and the trials are what a person opens the experiment to see
    with mlflow.start_run(run_id=existing, run_name=trial_name,
                          tags={"ray.trial_id": trial_id, "kind": "trial",
                                STUDY_RUN: ctx.study_run_id}) as run:
        if existing is None:  # params cannot change once logged
            mlflow.log_params({k: str(v) for k, v in params.items()})
        try:
            yield run.info.run_id
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise
            # Tune stops a trial its scheduler halts by sys.exit(0) inside tune.report: the
            # stages it ran are finished results, not a failure
            mlflow.set_tag(STOPPED, "true")
            mlflow.end_run("FINISHED")
            raise


def log_stage(ctx: StudyContext, trial_id: str, entry: CacheEntry) -> None:
    """A nested run for the stage, unless this trial logged it before (a retried trial)."""
    try:
        if _find(ctx, f"tags.`ray.trial_id` = '{trial_id}' and tags.kind = 'stage' "
                      f"and tags.stage = '{entry.stage}'"):
            return
        finite = {k: v for k, v in entry.metrics.items() if v == v and abs(v) != float("inf")}
        with mlflow.start_run(run_name=entry.stage, nested=True, tags={
                "ray.trial_id": trial_id, "kind": "stage", "stage": entry.stage,
                "cache_key": entry.key, "cache_hit": str(entry.hit).lower()}):
            mlflow.log_metrics(finite)
            mlflow.log_metric("stage_seconds", entry.seconds)
            for name in ("config.yaml", "overlay.png"):
                if (entry.path / name).exists():
                    mlflow.log_artifact(str(entry.path / name), entry.stage)
        mlflow.log_metrics(finite)  # the trial run holds every stage's numbers for the tables
        if ctx.objective in finite:  # one column that means the same in every study
            mlflow.log_metric("objective", finite[ctx.objective])
    except Exception as err:  # noqa: BLE001 - the tracker must never cost a trial
        log.warning("MLflow logging of %s failed: %s", entry.stage, err)
