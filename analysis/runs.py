"""A study's finished trial runs from MLflow, with params typed again (MLflow keeps strings)."""

from __future__ import annotations

import ast
import dataclasses
import typing
from typing import Any

import mlflow
import pandas as pd
import yaml

from wsss.config import PipelineConfig
from wsss.keys import RENAMED_STAGES, SEP, ConfigError, coerce, current_name


class StudyNotFound(LookupError):
    """No such study, or a study without finished trials."""


def _field_types(cls: type = PipelineConfig, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            out.update(_field_types(kind, f"{prefix}{f.name}{SEP}"))
        else:
            out[f"{prefix}{f.name}"] = kind
    return out


FIELD_TYPES = _field_types()


def parse_param(key: str, text: Any) -> Any:
    """``"0.55"`` -> 0.55, ``"('layer5', 'layer6')"`` -> a tuple, typed by the config field."""
    if not isinstance(text, str):
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    if isinstance(value, str) and value[:1] in "([{":
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass
    if key in FIELD_TYPES:
        try:
            return coerce(value, FIELD_TYPES[key], key)
        except ConfigError:
            return value
    return value


def load_trials(study: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """One row per finished trial: typed ``param`` columns (``classifier/drs_delta``) and
    ``metric`` columns (``metrics.pseudo_labels/miou``). Orphaned or killed runs are left out."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    if mlflow.get_experiment_by_name(study) is None:
        raise StudyNotFound(f"no study named {study!r} in {mlflow.get_tracking_uri()}")
    finished = "tags.kind = 'trial' and attributes.status = 'FINISHED'"
    runs = mlflow.search_runs(experiment_names=[study], filter_string=finished)
    if not len(runs):
        raise StudyNotFound(f"study {study!r} has no finished trials")
    runs = runs.rename(columns=current_names)  # an older study's records, read as today's
    params = {c.removeprefix("params."): pd.Series(  # object: keep ints, tuples as they are
        [parse_param(c.removeprefix("params."), v) for v in runs[c]], dtype=object)
        for c in runs.columns if c.startswith("params.")}
    metrics = {c: pd.to_numeric(runs[c], errors="coerce")
               for c in runs.columns if c.startswith("metrics.")}
    code = runs.get(f"tags.{COMMIT}", pd.Series([None] * len(runs)))
    return pd.DataFrame({"run_id": runs.run_id, COMMIT: code, **params, **metrics})


COMMIT = "wsss.git_commit"  # the code a trial ran (study.provenance); None outside git


def mixed_commits(df: pd.DataFrame) -> str:
    """A warning naming the commits when the trials behind one table ran different code
    (runs recorded before commits were tagged count as "unknown"); "" when they agree."""
    if COMMIT not in df or not len(df):
        return ""
    counts = df[COMMIT].fillna("unknown").map(lambda c: c[:12]).value_counts()
    if len(counts) < 2:
        return ""
    listed = ", ".join(f"{c} ({n} trial{'s' * (n > 1)})" for c, n in counts.items())
    return (f"warning: these tables mix trials run by {len(counts)} versions of the code: "
            f"{listed}; their differences may be the code's, not the settings'")


def current_names(column: str) -> str:
    """A ``params.``/``metrics.`` column under today's names (``metrics.cam/miou`` ->
    ``metrics.cams/miou``)."""
    kind, _, name = column.partition(".")
    if kind in ("params", "metrics") and name:
        return f"{kind}.{current_name(name)}"
    return column


def study_run_id(study: str) -> str | None:
    runs = mlflow.search_runs(experiment_names=[study], filter_string="tags.kind = 'study'")
    return str(runs.run_id.iloc[0]) if len(runs) else None


def study_objective(study: str) -> str | None:
    runs = mlflow.search_runs(experiment_names=[study], filter_string="tags.kind = 'study'")
    col = "params.study/objective"
    return current_name(str(runs[col].iloc[0])) if len(runs) and col in runs else None


def current_stage(stage: str) -> str:
    """A stage run's ``stage`` tag under today's names."""
    return RENAMED_STAGES.get(stage, stage)
