"""The whole-pipeline trainable: one trial = one configuration, stages through the cache."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from ray import tune

from trainables import tracking
from trainables.context import (
    COST,
    GPU_BUSY_SECONDS,
    GPU_MEASURED_SECONDS,
    GPU_SECONDS,
    StudyContext,
)
from trainables.execution import Placement, stage_executor
from wsss import config
from wsss.cache import CacheEntry, StageCache
from wsss.pipeline import STAGES, plan, run_pipeline


def decode(trial_config: dict[str, Any], ctx: StudyContext) -> config.PipelineConfig:
    """Tune's nested config + the study's base keys -> a checked PipelineConfig. A study
    without GPUs runs on the CPU even where CUDA is present: Ray hides no GPU from a trial
    that asked for none, and it would use GPUs Ray believes free."""
    flat = {k: _tidy(v) for k, v in config.flatten(trial_config).items()
            if not k.startswith("choice/")}
    cfg = config.resolve({**ctx.base, **flat})
    if not ctx.stage_resources and cfg.device == "auto":
        cfg = config.replace(cfg, device="cpu")
    return cfg


def _tidy(value: Any) -> Any:
    """Optuna's stepped floats come as low + k * step (0.30000000000000004): 12 significant
    digits, so r = 0.3 from a search and from a grid are one cache key and read alike."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


COUNTERS = (COST, GPU_SECONDS, GPU_BUSY_SECONDS, GPU_MEASURED_SECONDS)


def _reported_stages() -> tuple[dict[str, str], dict[str, float]]:
    """What a retried or restored trial had reported: stage -> cache key, and its counters."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return {}, dict.fromkeys(COUNTERS, 0.0)
    with checkpoint.as_directory() as d:
        saved = json.loads(Path(d, "stages.json").read_text())
    if not isinstance(saved.get("stages"), dict):
        saved = {"stages": saved}  # written before costs were kept
    return saved["stages"], {k: float(saved.get(k, 0.0)) for k in COUNTERS}


def _count(spent: dict[str, float], entry: CacheEntry, placement: Placement | None) -> None:
    """Add a computed stage's seconds, and its GPU-seconds where it held a GPU."""
    if entry.hit:
        return
    spent[COST] += entry.seconds
    if placement is not None and placement.gpus > 0:
        gpu_seconds = placement.held * placement.gpus
        spent[GPU_SECONDS] += gpu_seconds
        busy = placement.gpu_metrics.get("gpu_busy_share")
        if busy is not None:
            spent[GPU_MEASURED_SECONDS] += gpu_seconds
            spent[GPU_BUSY_SECONDS] += gpu_seconds * busy


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
    placements: dict[str, Placement] = {}
    reported, spent = _reported_stages()  # a retried or restored trial does not report twice
    objective: dict[str, float] = {}  # its value, once its stage has run (or hit the cache)
    name = tracking.run_name(trial_config) or t.get_trial_name()  # what it varies

    runs: dict[str, str | None] = {}  # stage -> the run its computation records into

    def monitor(stage) -> tuple[str, str, float] | None:
        runs[stage.name] = tracking.open_stage_run(study, t.get_trial_id(), trial_run_id,
                                                   stage.name)
        if runs[stage.name] is None or not study.system_metrics:
            return None
        return study.tracking_uri, runs[stage.name], study.system_metrics

    def on_stage(entry: CacheEntry) -> None:
        placement = placements.get(entry.stage)  # None: served from the cache by the trial
        tracking.log_stage(study, t.get_trial_id(), entry, placement, runs.get(entry.stage))
        if study.objective in entry.metrics:
            objective["value"] = entry.metrics[study.objective]
        how = "cache hit" if entry.hit else f"{entry.seconds:.0f} s"
        print(f"[{study.name}: {name}] {entry.stage} done ({how})", flush=True)
        if entry.stage in reported:
            return
        reported[entry.stage] = entry.key
        _count(spent, entry, placement)
        headline = {k: v for k, v in entry.metrics.items() if "/iou_" not in k}  # rest: MLflow
        metrics = {**headline, "stage": stages.index(entry.stage) + 1, "stage_name": entry.stage,
                   # stages after the objective's (the final metric) carry it forward,
                   # so the searcher reads the objective from the trial's last report
                   "score": objective.get("value", rung_score(entry)),
                   f"{entry.stage}/cache_hit": float(entry.hit), **spent,
                   **{f"{s}/node": p.node_id for s, p in placements.items()},
                   **{f"{s}/gpu_ids": p.gpu_ids for s, p in placements.items()}}
        with tempfile.TemporaryDirectory() as d:  # the cache holds the work; this says how far
            Path(d, "stages.json").write_text(json.dumps({"stages": reported, **spent}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    with tracking.trial_run(study, t.get_trial_id(), name, params) as trial_run_id:
        run_pipeline(cfg, StageCache(study.cache_root), until=study.until, on_stage=on_stage,
                     execute=stage_executor(study.stage_resources, placements,
                                            device=cfg.device, workers=cfg.data.workers,
                                            monitor=monitor))
