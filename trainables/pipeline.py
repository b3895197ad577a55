"""The whole-pipeline trainable: one trial = one configuration, stages through the cache."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from trainables import tracking
from trainables.context import COST, StudyContext
from trainables.execution import stage_executor
from wsss import config
from wsss.cache import CacheEntry, StageCache
from wsss.pipeline import STAGES, plan, run_pipeline


def decode(trial_config: dict[str, Any], ctx: StudyContext) -> config.PipelineConfig:
    """Tune's nested config + the study's base keys -> a checked PipelineConfig."""
    flat = {k: _tidy(v) for k, v in config.flatten(trial_config).items()
            if not k.startswith("choice/")}
    return config.resolve({**ctx.base, **flat})


def _tidy(value: Any) -> Any:
    """Optuna's stepped floats come as low + k * step (0.30000000000000004): 12 significant
    digits, so r = 0.3 from a search and from a grid are one cache key and read alike."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _reported_stages() -> tuple[dict[str, str], float]:
    """What a retried or restored trial had reported: stage -> cache key, and its cost."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return {}, 0.0
    with checkpoint.as_directory() as d:
        saved = json.loads(Path(d, "stages.json").read_text())
    if isinstance(saved.get("stages"), dict):
        return saved["stages"], float(saved.get(COST, 0.0))
    return saved, 0.0  # written before costs were kept


def rung_score(entry: CacheEntry) -> float:
    """The stage's headline metric, oriented so that higher is better (losses negated)."""
    stage = STAGES[entry.stage]
    value = entry.metrics.get(stage.score, 0.0)
    return value if stage.maximize else -value


def pipeline_trainable(trial_config: dict[str, Any], study: StudyContext) -> None:
    cfg = decode(trial_config, study)
    stages = [name for name, _ in plan(cfg)]
    stages = stages[: stages.index(study.until) + 1]
    t = tune.get_context()
    params = {**config.flatten(cfg), **{k: v for k, v in config.flatten(trial_config).items()
                                        if k.startswith("choice/")}}
    nodes: dict[str, str] = {}
    reported, cost = _reported_stages()  # a retried or restored trial does not report twice
    spent = {COST: cost}  # stage-seconds computed for this trial; a cache hit adds 0
    objective: dict[str, float] = {}  # its value, once its stage has run (or hit the cache)
    name = tracking.run_name(trial_config) or t.get_trial_name()  # what it varies

    def on_stage(entry: CacheEntry) -> None:
        tracking.log_stage(study, t.get_trial_id(), entry)
        if study.objective in entry.metrics:
            objective["value"] = entry.metrics[study.objective]
        how = "cache hit" if entry.hit else f"{entry.seconds:.0f} s"
        print(f"[{study.name}: {name}] {entry.stage} done ({how})", flush=True)
        if entry.stage in reported:
            return
        reported[entry.stage] = entry.key
        spent[COST] += 0.0 if entry.hit else entry.seconds
        headline = {k: v for k, v in entry.metrics.items() if "/iou_" not in k}  # rest: MLflow
        metrics = {**headline, "stage": stages.index(entry.stage) + 1, "stage_name": entry.stage,
                   # stages after the objective's (the final metric) carry it forward,
                   # so the searcher reads the objective from the trial's last report
                   "score": objective.get("value", rung_score(entry)),
                   f"{entry.stage}/cache_hit": float(entry.hit), COST: spent[COST],
                   **{f"{s}/node": n for s, n in nodes.items()}}
        with tempfile.TemporaryDirectory() as d:  # the cache holds the work; this says how far
            Path(d, "stages.json").write_text(json.dumps({"stages": reported, **spent}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    with tracking.trial_run(study, t.get_trial_id(), name, params):
        run_pipeline(cfg, StageCache(study.cache_root), until=study.until, on_stage=on_stage,
                     execute=stage_executor(study.stage_resources, nodes))
