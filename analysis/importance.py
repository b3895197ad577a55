"""What mattered in a study: how much each setting the trials varied explains the objective and
every stage's headline metric (Optuna's importance evaluators), and a parallel-coordinates
figure of settings against metrics.

Read from the trial runs in MLflow (``analysis.runs.load_trials``), not from the searcher's
Optuna study: that holds one score per trial, MLflow holds every stage's metric.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
from optuna.distributions import CategoricalDistribution  # noqa: E402

from analysis.tables import setting_columns  # noqa: E402

# (stage, its headline metric, higher is better) in pipeline order: the stages' own ``score``
# and ``maximize``, written out so analysis never imports torch (a test keeps them equal),
# then the papers' number
STAGE_SCORES = (("pretrain", "pretrain/val/map", True), ("classifier", "classifier/val/map", True),
                ("cams", "cams/miou", True), ("refine", "refine/miou", True),
                ("pseudo_labels", "pseudo_labels/miou", True), ("crf_labels",
                                                                "crf_labels/precision", True),
                ("affinity", "affinity/pair_accuracy", True), ("random_walk", "random_walk/miou",
                                                               True),
                ("segment", "segment/final_loss", False), ("evaluate", "evaluate/miou", True))
HEADLINES = (*((metric, up) for _, metric, up in STAGE_SCORES), ("evaluate/miou_crf", True))
# What each stage's cache key reads (``Stage.reads``, written out likewise): a setting no stage
# up to a metric's reads cannot move that metric (β and the classifier's mAP), whatever a
# forest fitted on a few correlated trials says
STAGE_READS = {
    "pretrain": ("precision", "data/", "seed", "pretrain/", "classifier/arch",
                 "classifier/resize", "classifier/crop", "classifier/jitter"),
    "classifier": ("precision", "data/", "seed", "oracle", "method", "classifier/"),
    "cams": ("precision", "data/", "seed", "cams/", "scoring/"),
    "refine": ("precision", "data/", "seed", "refine/", "cams/", "scoring/"),
    "pseudo_labels": ("data/", "pseudo_labels/", "scoring/"),
    "crf_labels": ("data/", "crf_labels/", "scoring/"),
    "affinity": ("precision", "data/", "seed", "affinity/", "classifier/arch"),
    "random_walk": ("precision", "data/", "seed", "random_walk/", "scoring/"),
    "segment": ("precision", "data/", "seed", "segment/", "scoring/gt_dir"),
    "evaluate": ("precision", "data/", "evaluate/", "scoring/"),
}
METRIC_STAGE = {**{metric: stage for stage, metric, _ in STAGE_SCORES},
                "evaluate/miou_crf": "evaluate"}
# PED-ANOVA compares the top 10 % of trials with all: below this many trials that top is one
# or two trials and a pure-noise setting scores as high as the deciding one (measured on
# constructed trials, tests/analysis/test_importance.py); fANOVA's seeded forest does not
PED_ANOVA_FROM = 100


def stage_metrics(df: pd.DataFrame) -> list[tuple[str, bool]]:
    """(metric, higher is better) for each stage headline metric the trials recorded."""
    return [(m, up) for m, up in HEADLINES
            if f"metrics.{m}" in df and df[f"metrics.{m}"].notna().any()]


def can_move(setting: str, metric: str) -> bool:
    """Whether the metric's stage or any stage before it (in either method's order: a
    superset of one method's chain) reads ``setting``; true for a metric of no known stage."""
    stage = METRIC_STAGE.get(metric)
    if stage is None:
        return True
    order = [name for name, _, _ in STAGE_SCORES]
    return any(setting.startswith(prefix) for name in order[: order.index(stage) + 1]
               for prefix in STAGE_READS[name])


def varied_settings(df: pd.DataFrame) -> list[str]:
    """Config keys whose value differs between trials (not the seed, nor speed-only keys:
    ``analysis.tables.setting_columns``)."""
    return [k for k in setting_columns(df) if df[k].map(str).nunique() > 1]


def importances(df: pd.DataFrame, metrics: list[tuple[str, bool]]) -> tuple[pd.DataFrame, str]:
    """Rows: varied settings; columns: metrics; cells: importance (each column sums to 1).
    Also the evaluator's name. Empty when fewer than 3 trials or nothing varied."""
    settings = varied_settings(df)
    if len(df) < 3 or not settings:
        return pd.DataFrame(), ""
    use_fanova = len(df) < PED_ANOVA_FROM
    name = "fANOVA" if use_fanova else "PED-ANOVA"
    columns = {}
    for metric, maximize in metrics:
        values = df[f"metrics.{metric}"]
        rows = df[values.notna()]
        if len(rows) < 3 or values.nunique() < 2:
            continue
        upstream = [k for k in settings if can_move(k, metric)]
        if not upstream:
            continue
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per in-memory study
        study = optuna.create_study(direction="maximize" if maximize else "minimize")
        dists = {k: CategoricalDistribution(sorted(df[k].map(str).unique())) for k in upstream}
        for _, row in rows.iterrows():
            study.add_trial(optuna.trial.create_trial(
                params={k: str(row[k]) for k in upstream}, distributions=dists,
                value=float(row[f"metrics.{metric}"])))
        evaluator = (optuna.importance.FanovaImportanceEvaluator(seed=0) if use_fanova
                     else optuna.importance.PedAnovaImportanceEvaluator())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            columns[metric] = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return pd.DataFrame(columns).reindex(settings).fillna(0.0), name


def markdown(table: pd.DataFrame, evaluator: str, n: int) -> list[str]:
    if table.empty:
        return []
    head = ["setting", *table.columns]
    lines = [f"**What mattered** ({evaluator} importance over {n} trials; each column sums "
             "to 1; a setting at 0 did not separate the best trials from the rest, or is read "
             "by no stage up to that metric's):", "",
             "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for key, row in table.iterrows():
        lines.append(f"| {key} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    return lines


def parallel_coordinates(df: pd.DataFrame, metrics: list[tuple[str, bool]], colour_by: str,
                         out: Path) -> Path | None:
    """One line per trial across its settings (categories spread evenly) and its metrics
    (each axis its own range, written at its ends, better up), coloured by ``colour_by``."""
    # a metric every trial has and that varies: a constant axis (the shared pretrain) or one
    # only some trials reach (refine) would draw nothing or broken lines
    metrics = [(m, up) for m, up in metrics if df[f"metrics.{m}"].notna().all()
               and df[f"metrics.{m}"].nunique() > 1]
    settings, names = varied_settings(df), [m for m, _ in metrics]
    axes = settings + names
    if len(df) < 2 or len(axes) < 2 or f"metrics.{colour_by}" not in df:
        return None
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(axes)), 4.0))
    scaled, ticks = {}, {}
    for key in settings:
        cats = sorted(df[key].map(str).unique())
        scaled[key] = df[key].map(lambda v, c=cats: c.index(str(v)) / max(1, len(c) - 1))
        ticks[key] = [_label(c) for c in cats]
    for metric, up in metrics:  # better is up on every metric axis (a loss is turned over)
        v = df[f"metrics.{metric}"]
        lo, hi = v.min(), v.max()
        unit = (v - lo) / (hi - lo) if hi > lo else v * 0 + 0.5
        scaled[metric] = unit if up else 1 - unit
        ticks[metric] = [f"{lo:.3g}", f"{hi:.3g}"] if up else [f"{hi:.3g}", f"{lo:.3g}"]
    colour = df[f"metrics.{colour_by}"]
    lo, hi = colour.min(), colour.max()
    cmap = plt.get_cmap("viridis")
    for i in range(len(df)):
        ys = [scaled[a].iloc[i] for a in axes]
        c = colour.iloc[i]
        ax.plot(range(len(axes)), ys, color=cmap(0.5 if hi == lo or math.isnan(c)
                                                 else (c - lo) / (hi - lo)), alpha=0.8)
    for x, a in enumerate(axes):
        ax.axvline(x, color="grey", lw=0.5)
        labels = ticks[a]
        for j, label in enumerate(labels):
            y = j / max(1, len(labels) - 1)
            ax.text(x + 0.03, y, label, fontsize=7, va="center")
    ax.set_xticks(range(len(axes)), axes, rotation=30, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_title(f"trials: settings and metrics (colour: {colour_by}, "
                 f"{lo:.3g} dark .. {hi:.3g} bright)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _label(text: str) -> str:
    """A category as an axis label: ``('layer5', 'layer6')`` reads ``layer5-6``."""
    ids = re.findall(r"layer(\d)", text)
    if ids and text.startswith(("(", "[")):
        nums = [int(i) for i in ids]
        if nums == list(range(nums[0], nums[-1] + 1)):
            return f"layer{nums[0]}" + (f"-{nums[-1]}" if len(nums) > 1 else "")
        return "layer" + ",".join(ids)
    if text in ("()", "[]"):
        return "none"
    return text if len(text) <= 14 else text[:13] + "…"


def section(df: pd.DataFrame, objective: str, out: Path,
            png: str = "parallel.png") -> list[str]:
    """The report's "what mattered" lines, with the figure ``png`` written under ``out``."""
    if not varied_settings(df):
        return []
    metrics = stage_metrics(df)
    if objective not in [m for m, _ in metrics] and f"metrics.{objective}" in df:
        metrics.insert(0, (objective, True))
    table, evaluator = importances(df, metrics)
    lines = markdown(table, evaluator, len(df))
    figure = parallel_coordinates(df, metrics, objective, out / png)
    if figure:
        lines += ["", f"![settings against metrics]({figure.name})"]
    return lines
