"""Build every table of a study, write them (md, tex, csv, png, report.md) and log them as
artifacts on the study's MLflow run. Never reruns a stage: MLflow is the only input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import mlflow

from analysis import importance, plots, render
from analysis.runs import load_trials, study_objective, study_run_id
from analysis.tables import Table, builders


def build(study: str, tables: Sequence[str] = (), metric: str | None = None,
          tracking_uri: str | None = None) -> list[Table]:
    """The requested tables (default: all); ``metric`` defaults to the study's objective."""
    df = load_trials(study, tracking_uri)
    metric = metric or study_objective(study) or "pseudo_labels/miou"
    return [builders()[name](df, metric) for name in tables or builders()]


def write(study: str, tables: list[Table], out: Path, *, log: bool = True) -> Path:
    """All formats and figures under ``out``, ``report.md`` bundling them (and what mattered:
    ``analysis.importance``); logged to MLflow."""
    out.mkdir(parents=True, exist_ok=True)
    objective = study_objective(study) or "pseudo_labels/miou"
    mattered = importance.section(load_trials(study), objective, out)
    report = write_tables(f"Tables of study `{study}`", tables, out, epilogue=mattered)
    run_id = study_run_id(study) if log else None
    if run_id:
        mlflow.MlflowClient().log_artifacts(run_id, str(out), "tables")
    return report


def write_tables(title: str, tables: list[Table], out: Path,
                 preamble: Sequence[str] = (), epilogue: Sequence[str] = ()) -> Path:
    """Each table as md, tex, csv and png under ``out``, and ``report.md``: the title, the
    preamble's lines, every table with its figure, then the epilogue's lines."""
    out.mkdir(parents=True, exist_ok=True)
    sections = [f"# {title}", "", *preamble]
    for t in tables:
        for fmt, fn in render.FORMATS.items():
            (out / f"{t.key}.{fmt}").write_text(fn(t) + "\n")
        png = plots.plot(t, out / f"{t.key}.png")
        sections += [render.markdown(t), ""]
        if png:
            sections += [f"![{t.title}]({png.name})", ""]
    report = out / "report.md"
    report.write_text("\n".join([*sections, *epilogue]))
    return report
