"""Launch and resume studies: Tuner + OptunaSearch (+ ASHA) over the pipeline trainable.

Where a study's records go: ``study.spec.Home``.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from study.experiment import describe, ensure_experiment, trials_view
from study.provenance import provenance
from study.resources import cluster_capacity
from study.spec import Home, Resources, StudySpec
from study.stores import open_optuna


def _study_run(home: Home, spec: StudySpec) -> tuple[str, str]:
    """The study's MLflow experiment and its study-level run (created once, found again)."""
    import mlflow

    experiment_id = ensure_experiment(home, spec.name, describe(spec), trials_view(spec))
    runs = mlflow.search_runs([experiment_id], filter_string="tags.kind = 'study'")
    if len(runs):
        return experiment_id, str(runs.run_id.iloc[0])
    with mlflow.start_run(run_name=spec.name, tags={"kind": "study", **provenance()}) as run:
        mlflow.log_params({"study/space": spec.grid or spec.space, "study/objective":
                           spec.objective, "study/samples": spec.num_samples,
                           **{k: str(v) for k, v in spec.overrides.items()}})
        return experiment_id, run.info.run_id


def _trainable(home: Home, spec: StudySpec, res: Resources):
    from ray import tune

    from trainables.context import StudyContext
    from trainables.pipeline import pipeline_trainable

    experiment_id, study_run_id = _study_run(home, spec)
    stages: dict[str, dict[str, float]] = {}
    if res.uses_gpus:  # the trial coordinates; each stage is a task with its own resources
        stages = {"gpu": {"num_cpus": res.stage_cpus, "num_gpus": res.gpus_per_stage},
                  "cpu": {"num_cpus": res.stage_cpus}}
    ctx = StudyContext(name=spec.name, objective=spec.objective, base=spec.overrides,
                       cache_root=str(home.cache), tracking_uri=home.tracking_uri,
                       experiment_id=experiment_id, study_run_id=study_run_id,
                       stage_resources=stages, stop_at=spec.until, provenance=provenance(),
                       system_metrics=system_metrics_interval())
    trainable = tune.with_resources(pipeline_trainable, {"cpu": res.trial_cpus})
    return tune.with_parameters(trainable, study=ctx), study_run_id


def system_metrics_interval() -> float:
    """Seconds between system-metric samples of a computing stage (``WSSS_SYSTEM_METRICS``:
    0 or off turns them off; default 5)."""
    value = os.environ.get("WSSS_SYSTEM_METRICS", "5").strip().lower()
    if value in ("0", "off", "false", "no"):
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"WSSS_SYSTEM_METRICS={value!r}: seconds between samples, or 0 / off"
                         ) from None
    return seconds if seconds > 0 else 0.0


def launch(spec: StudySpec, home: Home | None = None, *, resume: bool = False,
           res: Resources | None = None) -> dict[str, Any]:
    """Run (or resume) a study to the end; returns its summary. Needs ``ray.init`` done.
    ``res``: how it runs (default: ``spec.resources`` on the connected cluster)."""
    from ray import tune

    from study.progress import StudyProgress
    from trainables.context import COST, GPU_BUSY_SECONDS, GPU_MEASURED_SECONDS, GPU_SECONDS

    home = home or Home.default()
    res = res or spec.resources(cluster_capacity())
    # every stage reports with a tiny checkpoint; Tune's warning about snapshot frequency is
    # about syncing to cloud storage, which a study does not do, and drowns the stage lines
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    path = home.results / spec.name
    trainable, study_run_id = _trainable(home, spec, res)
    home.save(dataclasses.replace(spec, status="running"))
    if resume and tune.Tuner.can_restore(str(path)):
        from ray.tune import ExperimentAnalysis

        known = {t.trial_id for t in ExperimentAnalysis(str(path)).trials}
        _requeue_orphans(home, spec, known)
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        if tune.Tuner.can_restore(str(path)):
            raise FileExistsError(f"study {spec.name!r} already exists; use `wsss study resume`")
        tuner = tune.Tuner(trainable, tune_config=_tune_config(spec, home, res),
                           run_config=tune.RunConfig(
                               name=spec.name, storage_path=str(home.results),
                               failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                               checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                               # plain progress lines (study.progress), not Ray's table
                               callbacks=[StudyProgress(spec.name, spec.objective,
                                                        spec.num_samples)],
                               verbose=0))
    start = time.perf_counter()
    results = tuner.fit()
    _record_finished(home, spec, [r.metrics for r in results if r.error is None],
                     _final_stage(spec))
    orphans = _close_orphans(home, spec.name, {r.metrics.get("trial_id") for r in results})
    ran = results.num_errors == 0 and all(r.metrics.get("stage") is not None for r in results)
    spent = sum(float(r.metrics.get(COST, 0.0)) for r in results)
    gpu = {k: sum(float(r.metrics.get(k, 0.0)) for r in results)
           for k in (GPU_SECONDS, GPU_BUSY_SECONDS, GPU_MEASURED_SECONDS)}
    if ran and len(results) == spec.num_samples:
        status = "complete"
    elif ran and spec.budget > 0 and spent >= spec.budget:
        status = "budget"  # stopped launching at its budget, as asked
    else:
        status = "incomplete"
    home.save(dataclasses.replace(spec, status=status))
    _tag_study(home, study_run_id, status)
    return {"status": status, "trials": len(results), "errors": results.num_errors,
            "seconds": time.perf_counter() - start, "spent": spent, "results": results,
            "orphans": orphans, "resources": res, "gpu_hours": gpu[GPU_SECONDS] / 3600,
            "gpu_busy": gpu[GPU_BUSY_SECONDS] / gpu[GPU_MEASURED_SECONDS]
            if gpu[GPU_MEASURED_SECONDS] else None}


def _requeue_orphans(home: Home, spec: StudySpec, known: set[str]) -> int:
    """Before a resume: Optuna trials a dead driver asked for but Tune never recorded are
    closed (FAIL, tagged ``wsss:orphan``). A grid's sampler never revisits a closed point,
    so its point is queued again: every point of the grid still runs exactly once. (Trials
    Tune did record get their results in Optuna after ``fit``: ``_record_finished``.)"""
    import optuna
    from optuna.trial import TrialState

    storage = open_optuna(home.optuna_url)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    orphans = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if t.user_attrs.get("ray_trial_id") not in known]
    for t in orphans:
        storage.set_trial_system_attr(t._trial_id, "wsss:orphan", "driver died after ask()")
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if spec.grid_points and "choice/grid" in t.params:
            study.enqueue_trial({"choice/grid": t.params["choice/grid"]})
    return len(orphans)


def _record_finished(home: Home, spec: StudySpec, finals: list[dict], final_stage: int) -> int:
    """After ``fit``: every Tune trial that ended with a result has it in Optuna.

    One still RUNNING there (the driver died between Tune recording its end and the
    searcher's ``tell``; Tune never calls the searcher for it again) is told. A trial Tune
    gave up on (``max_failures`` reached) was told FAIL; ``wsss study resume``
    re-runs it (``resume_errored``), but the searcher ignores a second completion and Optuna
    cannot reopen a finished trial. Its result is added as a new Optuna trial with the same
    parameters (tagged ``wsss:resumed_after_error``). Returns how many were recorded here.
    """
    import optuna
    from optuna.trial import TrialState

    storage = open_optuna(home.optuna_url)
    study = optuna.load_study(study_name=spec.name, storage=storage)
    by_tune: dict[str, list] = {}
    for t in study.get_trials(deepcopy=False):
        by_tune.setdefault(t.user_attrs.get("ray_trial_id"), []).append(t)
    recorded = 0
    for final in finals:
        mine = by_tune.get(final.get("trial_id"), [])
        if "score" not in final or not mine or any(
                t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in mine):
            continue
        score, stage = float(final["score"]), int(final.get("stage", final_stage))
        state = TrialState.PRUNED if stage < final_stage else TrialState.COMPLETE
        running = [t for t in mine if t.state == TrialState.RUNNING]
        if running:
            t = running[0]
            if state == TrialState.PRUNED:
                storage.set_trial_intermediate_value(t._trial_id, stage, score)
            storage.set_trial_state_values(t._trial_id, state,
                                           None if state == TrialState.PRUNED else [score])
        else:
            old = mine[-1]
            study.add_trial(optuna.trial.create_trial(
                params=old.params, distributions=old.distributions, state=state,
                value=None if state == TrialState.PRUNED else score,
                intermediate_values={stage: score} if state == TrialState.PRUNED else None,
                user_attrs=old.user_attrs,
                system_attrs={"wsss:resumed_after_error": old.number}))
        recorded += 1
    return recorded


def _final_stage(spec: StudySpec) -> int:
    from wsss.pipeline import stage_of_metric

    return _stage_count(spec, spec.until or stage_of_metric(spec.objective).name)


def _close_orphans(home: Home, name: str, trial_ids: set[str]) -> int:
    """Close what a driver that died between its last state snapshot and the crash left open.

    Optuna trials still RUNNING once Tune is done, and MLflow trial runs of trials Tune no
    longer knows, were started by that driver but will never be finished by any Tune trial:
    they are closed (Optuna FAIL, MLflow KILLED) and tagged, so nothing counts them twice.
    """
    import mlflow
    import optuna

    storage = open_optuna(home.optuna_url)
    study = optuna.load_study(study_name=name, storage=storage)
    running = [t for t in study.get_trials(deepcopy=False)
               if t.state == optuna.trial.TrialState.RUNNING]
    for t in running:
        storage.set_trial_system_attr(t._trial_id, "wsss:orphan", "driver died after ask()")
        storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    mlflow.set_tracking_uri(home.tracking_uri)
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(experiment_names=[name], filter_string="tags.kind = 'trial'")
    stale = runs[~runs["tags.ray.trial_id"].isin(trial_ids)] if len(runs) else runs
    for run_id in stale.run_id if len(stale) else []:
        client.set_tag(run_id, "orphan", "true")
        client.set_terminated(run_id, status="KILLED")
    return len(running) + len(stale)


def _tune_config(spec: StudySpec, home: Home, res: Resources):
    from ray import tune

    from study.search import build_searcher, space_function

    space = space_function(spec)
    final_stage = _final_stage(spec)
    searcher = build_searcher(space, spec, home.optuna_url, final_step=final_stage)
    return tune.TuneConfig(search_alg=searcher, scheduler=rung_scheduler(spec, final_stage),
                           num_samples=spec.num_samples, max_concurrent_trials=res.trials,
                           reuse_actors=True)  # imports and set-up paid once per actor


def rung_scheduler(spec: StudySpec, final_stage: int):
    """``--asha``: successive halving at the rung stages (the spec's, else the method's)
    that come before the trial's last stage; None without ``--asha``."""
    from search_spaces import method_of
    from study.scheduler import StageRungScheduler
    from wsss import config
    from wsss.config import ConfigError
    from wsss.pipeline import plan

    if not spec.asha:
        return None
    names = [n for n, _ in plan(config.resolve(spec.overrides))]
    wanted = list(spec.rungs) or list(method_of(spec.grid or spec.space).rungs)
    unknown = [r for r in wanted if r not in names]
    if unknown:
        raise ConfigError(f"rung stage(s) {unknown} are not stages of this pipeline: "
                          f"{', '.join(names)}")
    # a rung at or after the trials' last stage would judge finished trials
    return StageRungScheduler([r for r in wanted if names.index(r) + 1 < final_stage])


def _stage_count(spec: StudySpec, until: str) -> int:
    from wsss import config
    from wsss.pipeline import plan

    names = [n for n, _ in plan(config.resolve(spec.overrides))]
    return names.index(until) + 1 if until in names else len(names)


def _tag_study(home: Home, run_id: str, status: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(home.tracking_uri)
    with mlflow.start_run(run_id=run_id):
        mlflow.set_tag("status", status)
