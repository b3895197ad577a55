"""The stage graph and `run_pipeline`, executing stages through the stage cache.

DRS:     pretrain -> classify -> cams -> [refine] -> pseudo_labels -> [segment -> evaluate]
SSENet:  pretrain -> classify (SER) -> cams -> crf_labels -> affinity -> random_walk
         -> [segment -> evaluate]
With ``segment/labels=gt`` (the upper bound): pretrain -> segment -> evaluate.

A stage's cache key covers the config fields it reads, its upstream keys, the dataset
fingerprint and its code version, so a trial that changes only ``pseudo/alpha`` reuses the
trained classifier and its maps, and every configuration of a sweep shares one ``pretrain``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsss.cache import CacheEntry, StageCache, stage_key
from wsss.config import PipelineConfig, dump_yaml, flatten
from wsss.data.voc import dataset_fingerprint
from wsss.stages import (
    affinity,
    cams,
    classify,
    common,
    crf_labels,
    evaluate,
    pretrain,
    pseudo_labels,
    random_walk,
    refine,
    segment,
)

StageFn = Callable[[PipelineConfig, Mapping[str, Path], Path, Callable], Mapping[str, float]]
# fields that change how fast a stage runs, never what it produces
NOT_IN_KEYS = ("data/root", "data/workers", "pseudo/workers", "cams/batch_size", "device",
               "crf/workers",
               "segment/checkpoint_every", "evaluate/workers", "evaluate/overlays")
DATA = ("data/",)


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    fields: tuple[str, ...]  # flat-key prefixes (a trailing "/" takes a whole section)
    version: str  # bump when the stage's code changes its output


# the ones that want a GPU
TRAINING_STAGES = ("pretrain", "classify", "refine", "affinity", "segment")

STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("pretrain", pretrain.run, (*DATA, "seed", "pretrain/", "classifier/arch",
                                     "classifier/resize", "classifier/crop",
                                     "classifier/jitter"), "1"),
    Stage("classify", classify.run, (*DATA, "seed", "oracle", "method", "classifier/"), "2"),
    Stage("cams", cams.run, (*DATA, "cams/", "eval/"), "2"),
    Stage("refine", refine.run, (*DATA, "seed", "refine/", "cams/", "eval/"), "1"),
    Stage("pseudo_labels", pseudo_labels.run, (*DATA, "pseudo/", "eval/"), "1"),
    Stage("crf_labels", crf_labels.run, (*DATA, "crf/", "eval/"), "1"),
    Stage("affinity", affinity.run, (*DATA, "seed", "affinity/", "classifier/arch"), "1"),
    Stage("random_walk", random_walk.run, (*DATA, "random_walk/", "eval/"), "1"),
    Stage("segment", segment.run, (*DATA, "seed", "segment/", "eval/gt_dir"), "2"),
    Stage("evaluate", evaluate.run, (*DATA, "evaluate/", "eval/"), "1"),
)}


def plan(cfg: PipelineConfig) -> list[tuple[str, dict[str, str]]]:
    """Stages to run in order, each with its inputs as {role: upstream stage}."""
    steps: list[tuple[str, dict[str, str]]] = [("pretrain", {})]
    segment_inputs = {"pretrain": "pretrain"}
    if not (cfg.segment.enabled and cfg.segment.labels == "gt"):  # weak labels needed
        steps += [("classify", {"pretrain": "pretrain"}), ("cams", {"classify": "classify"})]
        if cfg.method == "ssenet":
            steps += [("crf_labels", {"cams": "cams"}),
                      ("affinity", {"pretrain": "pretrain", "crf_labels": "crf_labels"}),
                      ("random_walk", {"affinity": "affinity", "cams": "cams"})]
            segment_inputs["labels"] = "random_walk"
        else:
            maps = "cams"
            if cfg.refine.enabled:
                steps.append(("refine", {"pretrain": "pretrain", "cams": "cams"}))
                maps = "refine"
            steps.append(("pseudo_labels", {"maps": maps}))
            segment_inputs["labels"] = "pseudo_labels"
    if cfg.segment.enabled:
        steps += [("segment", segment_inputs), ("evaluate", {"segment": "segment"})]
    return steps


def stage_fields(cfg: PipelineConfig, stage: Stage) -> dict[str, Any]:
    flat = flatten(cfg)
    fields = {k: v for k, v in flat.items() if k not in NOT_IN_KEYS
              and any(k == f or (f.endswith("/") and k.startswith(f)) for f in stage.fields)}
    if stage.name == "classify" and cfg.classifier.select == "oracle":
        # the oracle criterion reads these too
        fields.update({k: flat[k] for k in ("pseudo/alpha", "pseudo/beta", "cams/input_size")})
    return fields


def run_pipeline(
    cfg: PipelineConfig,
    cache: StageCache,
    *,
    until: str | None = None,
    report: Callable[[str, Mapping[str, float]], None] = lambda stage, m: None,
    on_stage: Callable[[CacheEntry], None] = lambda entry: None,
    execute: Callable[[str, Callable[[], CacheEntry]], CacheEntry] = lambda stage, fn: fn(),
) -> dict[str, CacheEntry]:
    """Run (or reuse) every stage of ``plan(cfg)`` up to ``until``; one entry per stage.

    ``report(stage, metrics)`` receives per-epoch and per-stage metrics as they come;
    ``on_stage(entry)`` is called when a stage is computed or found in the cache;
    ``execute(stage, fn)`` runs a stage's cache lookup-or-compute (in-process by default; a
    Ray trial runs it as a task with the stage's resources).
    """
    fingerprint = dataset_fingerprint(common.open_layout(cfg))
    done: dict[str, CacheEntry] = {}
    for name, roles in plan(cfg):
        stage = STAGES[name]
        fields = stage_fields(cfg, stage)
        upstream = {role: done[src].key for role, src in roles.items()}
        key = stage_key(name, fields, upstream, fingerprint, stage.version)
        inputs = {role: done[src].path for role, src in roles.items()}

        def compute(out: Path, stage: Stage = stage, inputs: dict = inputs) -> Mapping:
            (out / "config.yaml").write_text(dump_yaml(cfg))
            return stage.run(cfg, inputs, out, lambda m, n=stage.name: report(n, m))

        manifest = {"fields": fields, "upstream": upstream, "dataset": fingerprint,
                    "version": stage.version}
        entry = cache.get(name, key) or execute(
            name, lambda n=name, k=key, c=compute, m=manifest: cache.get_or_compute(n, k, c, m))
        done[name] = entry
        on_stage(entry)
        if name == until:
            break
    return done
