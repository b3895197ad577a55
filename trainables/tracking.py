"""MLflow from inside a trial: one top-level run per trial (tagged with its study run), one
child run per stage execution or cache hit. Idempotent across retries and restores (found by
tags), always ended, and a tracking outage costs telemetry, never the trial."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Iterator, Mapping
from typing import Any

import mlflow
from mlflow.entities import Metric

from trainables.context import StudyContext
from trainables.execution import Placement
from wsss.cache import MANIFEST, CacheEntry
from wsss.engine import CURVE
from wsss.keys import flatten
from wsss.methods import METHODS

log = logging.getLogger(__name__)
STUDY_RUN = "wsss.study_run_id"  # a trial run's tag: the study run holding its tables
STOPPED = "wsss.stopped_at_rung"  # a trial run's tag: halted by the scheduler, not failed


def run_name(trial_config: Mapping[str, Any]) -> str:
    """A trial's name in MLflow from what it varies within its study, e.g.
    ``drs=constant δ=0.55 α=0.2`` (a choice's label stands for the values it expands to; a
    key reads as its method's short name for it, else as its last part)."""
    flat = flatten(trial_config)
    short = {k: v for m in METHODS.values() for k, v in m.short_names.items()}
    labels = {k.removeprefix("choice/"): v for k, v in flat.items() if k.startswith("choice/")}
    parts = []
    for key, value in flat.items():
        if key.startswith("choice/"):
            continue
        leaf = key.split("/")[-1]
        shown = labels.get(leaf, value)
        parts.append(f"{short.get(key, leaf)}={_short(shown)}")
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


def _find(ctx: StudyContext, filter_string: str, *, everywhere: bool = False) -> str | None:
    runs = mlflow.search_runs(None if everywhere else [ctx.experiment_id],
                              filter_string=filter_string, search_all_experiments=everywhere,
                              max_results=1)
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
                                STUDY_RUN: ctx.study_run_id, **ctx.provenance,
                                **_setting(params)}) as run:
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


def _setting(params: Mapping[str, Any]) -> dict[str, str]:
    """The profile, preset and seed a trial ran with, as tags beside the provenance."""
    return {f"wsss.{k}": str(params[k]) for k in ("method", "profile", "preset", "seed")
            if k in params}


def _stage_filter(trial_id: str, stage: str) -> str:
    return (f"tags.`ray.trial_id` = '{trial_id}' and tags.kind = 'stage' "
            f"and tags.stage = '{stage}'")


def open_stage_run(ctx: StudyContext, trial_id: str, trial_run_id: str,
                   stage: str) -> str | None:
    """The run of a stage this trial is about to compute, made before it starts so the
    process that computes it can record system metrics into it; a retried trial finds its
    own again. None where the tracker failed (the stage runs all the same)."""
    try:
        existing = _find(ctx, _stage_filter(trial_id, stage))
        if existing:
            return existing
        run = mlflow.MlflowClient().create_run(
            ctx.experiment_id, run_name=stage,
            tags={"mlflow.parentRunId": trial_run_id, "ray.trial_id": trial_id,
                  "kind": "stage", "stage": stage, **ctx.provenance})
        return run.info.run_id
    except Exception as err:  # noqa: BLE001 - the tracker must never cost a trial
        log.warning("MLflow: no run for %s: %s", stage, err)
        return None


def placement_tags(placement: Placement | None) -> dict[str, str]:
    """Where and how a stage ran; a cache hit ran nothing (it was read by the trial)."""
    if placement is None:
        return {"wsss.node": socket.gethostname(), "wsss.gpu_ids": "", "wsss.cpus": "0",
                "wsss.loader_workers": "0", "wsss.device": "none"}
    return {"wsss.node": placement.node, "wsss.gpu_ids": placement.gpu_ids,
            "wsss.cpus": f"{placement.cpus:g}",
            "wsss.loader_workers": str(placement.loader_workers), "wsss.device": placement.device,
            **({"wsss.cuda_device": placement.cuda_device} if placement.cuda_device else {})}


def log_stage(ctx: StudyContext, trial_id: str, entry: CacheEntry,
              placement: Placement | None = None, run_id: str | None = None) -> None:
    """Complete the stage's run (``run_id``: made by ``open_stage_run``) or, for a cache
    hit, make one, unless this trial finished it before (a retried trial): its metrics and
    training curve, where it ran (``placement_tags``), how long it held its resources, on
    CUDA the GPU's peak memory and busy share, and what produced it (provenance). A hit names
    the run that computed its entry."""
    try:
        client = mlflow.MlflowClient()
        found = run_id or _find(ctx, _stage_filter(trial_id, entry.stage))
        if found and client.get_run(found).info.status != "RUNNING":
            return  # logged before this retry
        finite = {k: v for k, v in entry.metrics.items() if v == v and abs(v) != float("inf")}
        tags = {"ray.trial_id": trial_id, "kind": "stage", "stage": entry.stage,
                "cache_key": entry.key, "cache_hit": str(entry.hit).lower(),
                **ctx.provenance, **placement_tags(placement), **_entry_tags(entry)}
        if entry.hit:
            tags["wsss.computed_in_run"] = _find(
                ctx, f"tags.cache_key = '{entry.key}' and tags.stage = '{entry.stage}' and "
                     "tags.cache_hit = 'false'", everywhere=True) or ""
        with mlflow.start_run(run_id=found, run_name=entry.stage, nested=True, tags=tags):
            mlflow.log_metrics(finite)
            mlflow.log_metric("stage_seconds", entry.seconds)
            if placement is not None:
                mlflow.log_metrics({"stage_held_seconds": placement.held,
                                    "stage_round_trip_seconds": placement.round_trip,
                                    **placement.gpu_metrics})
            if not entry.hit:
                _log_curve(client, mlflow.active_run().info.run_id, entry)
            for name in ("config.yaml", "overlay.png"):
                if (entry.path / name).exists():
                    mlflow.log_artifact(str(entry.path / name), entry.stage)
        mlflow.log_metrics(finite)  # the trial run holds every stage's numbers for the tables
        if ctx.objective in finite:  # one column that means the same in every study
            mlflow.log_metric("objective", finite[ctx.objective])
    except Exception as err:  # noqa: BLE001 - the tracker must never cost a trial
        log.warning("MLflow logging of %s failed: %s", entry.stage, err)


def _entry_tags(entry: CacheEntry) -> dict[str, str]:
    """The dataset the entry was computed on (its manifest's content fingerprint)."""
    try:
        manifest = json.loads((entry.path / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return {"wsss.dataset": str(manifest.get("dataset", ""))}


def _log_curve(client: mlflow.MlflowClient, run_id: str, entry: CacheEntry) -> None:
    """The stage's training curve (``wsss.engine.CURVE``) as metric history with steps."""
    path = entry.path / CURVE
    if not path.exists():
        return
    now = int(time.time() * 1000)
    points = [Metric(k, float(v), now, int(point["step"])) for point in json.loads(
        path.read_text()) for k, v in point.items() if k != "step" and v is not None]
    for i in range(0, len(points), 1000):  # MLflow takes at most 1000 metrics a batch
        client.log_batch(run_id, metrics=points[i:i + 1000])
