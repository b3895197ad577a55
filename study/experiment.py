"""How a study's MLflow experiment looks when a person opens it: the model-training view, a
description, and a saved view of the trials (their names, the objective and every stage's
headline metric as columns, best first) that ``wsss ui`` links to."""

from __future__ import annotations

import json
from typing import Any

from study.spec import Home, StudySpec

# MLflow 3's UI opens an experiment of this kind in its runs (model-training) view, not the
# GenAI traces overview; the note is the description the experiment page shows
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
NOTE = "mlflow.note.content"


def ensure_experiment(home: Home, name: str, description: str = "",
                      view: dict[str, Any] | None = None) -> str:
    """The study's MLflow experiment, created with its artifacts under ``home`` if local,
    marked as model training, described and given its trials view (an older experiment
    gets these tags now)."""
    import mlflow

    mlflow.set_tracking_uri(home.tracking_uri)
    tags = {**EXPERIMENT_KIND, **({NOTE: description} if description else {}),
            **({VIEW_TAG: json.dumps(view)} if view else {})}
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = mlflow.create_experiment(
            name, artifact_location=home.artifact_location(name), tags=tags)
    else:
        experiment_id = experiment.experiment_id
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            if experiment.tags.get(key) != value:
                client.set_experiment_tag(experiment_id, key, value)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def describe(spec: StudySpec) -> str:
    """The experiment's description: what the study searches, for what, and how to rebuild
    its tables."""
    what = (f"points {', '.join(f'`{p}`' for p in spec.points)}" if spec.points else
            f"grid `{spec.grid}`" if spec.grid else f"search space `{spec.space}`")
    base = ", ".join(f"`{k}={v}`" for k, v in sorted(spec.overrides.items())) or "defaults"
    return (f"wsss study **{spec.name}**: {what}, {spec.num_samples} trials, objective "
            f"`{spec.objective}` (maximised), until stage `{spec.until or 'the objective'}`.\n\n"
            f"Every trial: {base}.\n\nTrial runs are named by what they vary; each holds its "
            "stages as child runs (params, metrics, config.yaml, overlays) and every stage "
            "metric plus `objective`. The study run holds the paper tables "
            f"(artifacts `tables/`). Rebuild them: `wsss tables {spec.name}`.")


# MLflow's UI loads a view (search, sort, columns) from the experiment tag
# ``mlflow.sharedViewState.<key>`` when the URL names ``viewStateShareKey=<key>``
VIEW_KEY = "wsss-trials"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"  # the UI's column ids, e.g. metrics.`objective`


def trials_view(spec: StudySpec) -> dict[str, Any]:
    """The trial runs, best objective first, with the objective, the stages' headline
    metrics and the settings a grid varies as columns."""
    from analysis.importance import STAGE_SCORES
    from wsss import config
    from wsss.pipeline import plan, stage_of_metric

    names = [n for n, _ in plan(config.resolve(spec.overrides))]
    last = spec.until or stage_of_metric(spec.objective).name
    ran = names[: names.index(last) + 1] if last in names else names
    metrics = ["objective", *(m for stage, m, _ in STAGE_SCORES
                              if stage in ran and stage != "pretrain")]
    if "evaluate" in ran:  # the papers' number, on the selection and the held-out split
        metrics += ["evaluate/miou_crf", "evaluate/report/miou_crf"]
    varied = sorted({k for point in spec.grid_points.values() for k in point
                     if not k.startswith("choice/")})
    return {"searchFilter": "tags.kind = 'trial'", "orderByKey": _column("metrics", "objective"),
            "orderByAsc": False, "lifecycleFilter": "Active",
            "selectedColumns": [*(_column("metrics", m) for m in metrics),
                                *(_column("params", k) for k in varied)],
            "runsHiddenMode": "SHOW_ALL"}


def trials_url(ui: str, experiment_id: str) -> str:
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}"
