"""Studies on the tiny benchmark with a local Ray (2 CPUs), MLflow and Optuna in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest

import search_spaces
from study.runner import launch
from study.spec import Home, StudySpec
from wsss.cache import MANIFEST
from wsss.methods import METHODS
from wsss.pipeline import STAGES

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # whole studies: multi-stage

# 4 points, 2 distinct classifiers: the cache must train each classifier once
FOUR_POINTS = {
    "d55-a20": {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                "pseudo_labels/alpha": 0.2},
    "d55-a30": {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
                "pseudo_labels/alpha": 0.3},
    "lrn-a20": {"classifier/drs": "learnable", "pseudo_labels/alpha": 0.2},
    "lrn-a30": {"classifier/drs": "learnable", "pseudo_labels/alpha": 0.3},
}


def _grid(monkeypatch: pytest.MonkeyPatch, name: str, points: dict) -> None:
    monkeypatch.setitem(search_spaces.GRIDS, name, points)
    monkeypatch.setitem(search_spaces.METHOD_OF, name, METHODS["drs"])


def _spec(name: str, root: Path, **kw) -> StudySpec:
    base = {"profile": "tiny", "data/root": str(root), "data/workers": 0,
            "pseudo_labels/workers": 1}
    return StudySpec(name=name, overrides=base, **{"cpus_per_trial": 1, "concurrency": 1, **kw})


def _stage_runs(home: Home, name: str, stage: str):
    mlflow.set_tracking_uri(home.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[name], filter_string="tags.kind = 'stage'")
    return runs[runs["tags.stage"] == stage]


@pytest.mark.slow(seconds=45)
def test_four_trial_study_records_everything_once(ray_session, tiny_root, tmp_path,
                                                  monkeypatch) -> None:
    _grid(monkeypatch, "four", FOUR_POINTS)
    monkeypatch.setenv("WSSS_SYSTEM_METRICS", "0.2")  # seconds between samples: tiny stages
    home = Home(tmp_path / "home")
    spec = _spec("four", tiny_root, grid="four")
    home.save(spec)
    summary = launch(spec, home)
    assert summary["status"] == "complete" and summary["trials"] == 4
    _the_lab_notebook(home, "four")
    assert all(r.metrics["stage"] == 4 and 0 <= r.metrics["score"] <= 1
               for r in summary["results"])
    # the cache: one classifier per distinct upstream config, reused by the other trials
    assert len([p for p in (home.cache / "classifier").iterdir() if p.is_dir()]) == 2
    classifier = _stage_runs(home, "four", "classifier")
    assert sorted(classifier["tags.cache_hit"]) == ["false", "false", "true", "true"]
    assert len(_stage_runs(home, "four", "pretrain")) == 4
    # MLflow: one study run, 4 trial runs under it, 4 stage runs under each trial
    runs = mlflow.search_runs(experiment_names=["four"])
    study_id = runs[runs["tags.kind"] == "study"].run_id.iloc[0]
    trials = runs[runs["tags.kind"] == "trial"]
    assert len(trials) == 4 and set(trials["tags.wsss.study_run_id"]) == {study_id}
    assert trials["tags.mlflow.parentRunId"].isna().all()  # top level: not folded in the UI
    assert set(runs[runs["tags.kind"] == "stage"]["tags.mlflow.parentRunId"]) == set(trials.run_id)
    assert set(runs.status) == {"FINISHED"}
    # artifacts live under the project folder, never in the working directory's ./mlruns
    where = (home.root / "mlartifacts" / "four").as_uri()
    assert all(uri.startswith(where) for uri in runs.artifact_uri)
    assert not (Path.cwd() / "mlruns").exists()
    assert set(trials["params.choice/grid"]) == set(FOUR_POINTS)
    assert trials["params.pseudo_labels/alpha"].astype(float).isin([0.2, 0.3]).all()
    assert trials["metrics.pseudo_labels/miou"].between(0, 1).all()
    # easy to browse (through MLflow's REST API, as the UI reads it): the runs view, not the
    # GenAI one; a description; trials named by what they vary; `objective` a metric of each
    experiment = mlflow.get_experiment_by_name("four")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "grid `four`" in experiment.tags["mlflow.note.content"]
    assert "wsss tables four" in experiment.tags["mlflow.note.content"]
    view = json.loads(experiment.tags["mlflow.sharedViewState.wsss-trials"])  # wsss ui's link
    assert view["orderByKey"] == "metrics.`objective`" and "metrics.`pseudo_labels/miou`" in \
        view["selectedColumns"] and "params.`pseudo_labels/alpha`" in view["selectedColumns"]
    assert sorted(trials["tags.mlflow.runName"]) == [
        "drs=constant δ=0.55 α=0.2", "drs=constant δ=0.55 α=0.3", "drs=learnable α=0.2",
        "drs=learnable α=0.3"]
    assert list(trials["metrics.objective"]) == list(trials["metrics.pseudo_labels/miou"])
    # Optuna: the same four trials, complete, with the objective as value
    ot = optuna.load_study(study_name="four", storage=home.optuna_url)
    assert sorted(t.params["choice/grid"] for t in ot.trials) == sorted(FOUR_POINTS)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in ot.trials)
    assert sorted(t.value for t in ot.trials) == pytest.approx(
        sorted(trials["metrics.pseudo_labels/miou"]))
    assert home.load("four").status == "complete"
    # cost: what the study computed, each cache entry once; a cache hit costs nothing
    produced = sum(json.loads(m.read_text())["seconds"] for stage in STAGES
                   for m in (home.cache / stage).glob(f"*/{MANIFEST}"))
    assert summary["spent"] == pytest.approx(produced, abs=0.01 * 16) and produced > 0
    assert (_stage_runs(home, "four", "classifier").sort_values("tags.cache_hit")
            ["metrics.stage_seconds"].iloc[2:] == 0).all()
    # the same points again: every stage a cache hit, so a tiny budget is never reached;
    # with a rung at cams, a trial stopped there is PRUNED in Optuna, and only such a trial
    again = _spec("again", tiny_root, grid="four", budget=0.01, asha=True, rungs=["cams"])
    home.save(again)
    summary = launch(again, home)
    assert summary["status"] == "complete" and summary["trials"] == 4
    assert summary["spent"] == 0
    stopped = [r.metrics["stage_name"] == "cams" for r in summary["results"]]
    assert all(r.metrics["stage_name"] in ("cams", "pseudo_labels") for r in summary["results"])
    ot = optuna.load_study(study_name="again", storage=home.optuna_url)
    assert sum(t.state == optuna.trial.TrialState.PRUNED for t in ot.trials) == sum(stopped)
    # in MLflow a halted trial is a finished run (its stages are results), tagged as halted
    runs = mlflow.search_runs(experiment_names=["again"], filter_string="tags.kind = 'trial'")
    assert set(runs.status) == {"FINISHED"} and len(runs) == 4
    halted = runs.get("tags.wsss.stopped_at_rung", pd.Series([None] * 4)) == "true"
    # (Tune's stop reaches a trial at its next report: one that ended first is not tagged)
    assert int(halted.sum()) <= sum(stopped)
    # three new α values: the first trial computes pseudo labels, which spends the budget,
    # so no second trial starts
    _grid(monkeypatch, "new", {f"a{a}": {"classifier/drs": "learnable", "pseudo_labels/alpha": a}
                               for a in (0.25, 0.35, 0.4)})
    new = _spec("new", tiny_root, grid="new", budget=0.01)
    home.save(new)
    summary = launch(new, home)
    assert summary["status"] == "budget" and summary["trials"] == 1
    assert summary["spent"] >= 0.01 and home.load("new").status == "budget"


@pytest.mark.slow(seconds=25)
def _the_lab_notebook(home: Home, name: str) -> None:
    """Every computed training stage has a training curve (more than one step) and system
    metrics; every run says what produced it; a cache hit names the run that computed it."""
    mlflow.set_tracking_uri(home.tracking_uri)
    client = mlflow.MlflowClient()
    runs = mlflow.search_runs(experiment_names=[name])
    for _, run in runs.iterrows():  # study, trial and stage runs
        assert run["tags.wsss.torch"] and run["tags.wsss.mlflow"], run["tags.kind"]
        assert isinstance(run.get("tags.wsss.git_commit"), str) or run.get("tags.wsss.version")
    stages = runs[runs["tags.kind"] == "stage"]
    assert stages["tags.wsss.dataset"].str.len().gt(0).all()
    trials = runs[runs["tags.kind"] == "trial"]
    assert set(trials["tags.wsss.profile"]) == {"tiny"} and set(trials["tags.wsss.seed"]) == {"0"}
    computed = stages[stages["tags.cache_hit"] == "false"]
    for _, run in computed.iterrows():
        keys = client.get_run(run.run_id).data.metrics
        assert any(k.startswith("system/") for k in keys), run["tags.stage"]
        if STAGES[run["tags.stage"]].gpu and run["tags.stage"] in ("pretrain", "classifier"):
            steps = {m.step for m in client.get_metric_history(run.run_id, "train/loss")}
            assert len(steps) > 1, run["tags.stage"]
    for _, hit in stages[stages["tags.cache_hit"] == "true"].iterrows():
        source = client.get_run(hit["tags.wsss.computed_in_run"])
        assert source.data.tags["cache_key"] == hit["tags.cache_key"]


def _export_reproduces_the_cached_network(home: Home, tmp_path: Path, monkeypatch) -> None:
    """`wsss export` of the best trial: a folder whose loader gives the cached segmenter's
    predictions exactly, with the metrics of its table row."""
    import numpy as np
    import torch

    from study.cli import main
    from study.export import load_exported
    from wsss.artifacts import load_model, segmenter_from_config
    from wsss.config import resolve

    monkeypatch.setenv("WSSS_HOME", str(home.root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", home.tracking_uri)
    out = tmp_path / "exported"
    assert main(["export", "two", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"weights.pt", "config.yaml", "metrics.json",
                                               "MODEL_CARD.md", "load.py"}
    trials = mlflow.search_runs(experiment_names=["two"], filter_string="tags.kind = 'trial'")
    best = trials.sort_values("metrics.pseudo_labels/miou", ascending=False).iloc[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pseudo_labels/miou"] == pytest.approx(best["metrics.pseudo_labels/miou"])
    assert "evaluate/report/miou_crf" in metrics and "tiny" in (out / "MODEL_CARD.md").read_text()
    segment = _stage_runs(home, "two", "segment")
    key = segment[segment["tags.ray.trial_id"] == best["tags.ray.trial_id"]]["tags.cache_key"]
    cfg = resolve(yaml_path=out / "config.yaml")
    cached = load_model(home.cache / "segment" / key.iloc[0] / "segmenter.pt",
                        lambda n: segmenter_from_config(cfg, n), torch.device("cpu"))
    exported = load_exported(out)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert np.array_equal(exported(x).argmax(1).numpy(), cached(x).argmax(1).numpy())
        torch.testing.assert_close(exported(x), cached(x), rtol=0, atol=0)
    assert main(["export", "two", str(out)]) == 2  # an existing folder is never overwritten


def test_concurrent_trials_compute_a_shared_classifier_once(ray_session, tiny_root, tmp_path,
                                                            monkeypatch) -> None:
    """Also: trials run on past the objective's stage to the final metric (``until``), and
    the searcher still reads the objective, carried in every later report."""
    points = {k: FOUR_POINTS[k] for k in ("lrn-a20", "lrn-a30")}
    _grid(monkeypatch, "two", points)
    monkeypatch.setenv("WSSS_SYSTEM_METRICS", "off")  # the switch
    home = Home(tmp_path / "home")
    spec = _spec("two", tiny_root, grid="two", concurrency=2, until="evaluate")
    home.save(spec)
    summary = launch(spec, home)
    assert summary["status"] == "complete"
    starts = [r.metrics["time_total_s"] for r in summary["results"]]
    assert len(starts) == 2
    classifier = _stage_runs(home, "two", "classifier")
    assert sorted(classifier["tags.cache_hit"]) == ["false", "true"]  # the second one waited
    last = [r.metrics for r in summary["results"]]
    assert all(m["stage"] == 6 and 0 <= m["evaluate/miou_crf"] <= 1 for m in last)
    trials = mlflow.search_runs(experiment_names=["two"], filter_string="tags.kind = 'trial'")
    objective = sorted(trials["metrics.pseudo_labels/miou"])
    assert sorted(m["score"] for m in last) == pytest.approx(objective)
    stages = mlflow.search_runs(experiment_names=["two"], filter_string="tags.kind = 'stage'")
    assert not [c for c in stages.columns if c.startswith("metrics.system/")]  # switched off
    _export_reproduces_the_cached_network(home, tmp_path, monkeypatch)
    ot = optuna.load_study(study_name="two", storage=home.optuna_url)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in ot.trials)
    assert sorted(t.value for t in ot.trials) == pytest.approx(objective)


def test_an_existing_study_name_is_refused(ray_session, tiny_root, tmp_path) -> None:
    home = Home(tmp_path / "home")
    optuna.create_study(study_name="taken", storage=home.optuna_url if
                        (tmp_path / "home").mkdir(parents=True) is None else None)
    with pytest.raises(FileExistsError, match="unique"):
        launch(_spec("taken", tiny_root, samples=1), home)


@pytest.mark.slow(seconds=20)
def test_a_stage_trainable_tunes_thresholds_over_fixed_maps(ray_session, tiny_root, tmp_path):
    from ray import tune

    from study.runner import _study_run
    from trainables.context import StudyContext
    from trainables.stages import stage_trainable

    home = Home(tmp_path / "home")
    spec = _spec("alone", tiny_root)
    experiment_id, run_id = _study_run(home, spec)
    ctx = StudyContext(name="alone", objective="pseudo_labels/miou", base=spec.overrides,
                       cache_root=str(home.cache), tracking_uri=home.tracking_uri,
                       experiment_id=experiment_id, study_run_id=run_id)
    trainable = tune.with_parameters(
        tune.with_resources(stage_trainable("pseudo_labels"), {"cpu": 1}), study=ctx)
    results = tune.Tuner(
        trainable, param_space={"pseudo_labels": {"alpha": tune.grid_search([0.2, 0.4])}},
        run_config=tune.RunConfig(storage_path=str(home.results), name="alone", verbose=0),
    ).fit()
    assert results.num_errors == 0 and len(results) == 2
    alphas = sorted(r.config["pseudo_labels"]["alpha"] for r in results)
    assert alphas == [0.2, 0.4] and all(r.metrics["stage"] == 4 for r in results)
    assert len([p for p in (home.cache / "cams").iterdir() if p.is_dir()]) == 1  # shared maps
    assert len([p for p in (home.cache / "pseudo_labels").iterdir() if p.is_dir()]) == 2
