"""The stage graph and `run_pipeline`, executing stages through the stage cache.

    pretrain -> <the method's weak-label chain> -> [segment -> evaluate]

DRS's chain is classifier -> cams -> [refine] -> pseudo_labels; SSENet's classifier (SER) ->
cams -> crf_labels -> affinity -> random_walk (``wsss.methods``). With ``segment/labels=gt``
(the upper bound) there is no chain: pretrain -> segment -> evaluate.

A stage's cache key hashes the config fields it declares it reads (``Stage.reads``, less
the fields marked ``OUTSIDE_KEY``), its upstream keys, the dataset fingerprint and its code
version (docs/architecture.md, "The stage cache"), so a trial that changes only
``pseudo_labels/alpha`` reuses the trained classifier and its maps, and every configuration of a
sweep shares one ``pretrain``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from wsss import progress as progress_mod
from wsss.cache import CacheEntry, StageCache, stage_key
from wsss.config import PipelineConfig, dump_yaml, flatten, outside_key_fields
from wsss.data.check import preflight
from wsss.data.splits import open_layout
from wsss.data.voc import VocLayout, dataset_fingerprint
from wsss.methods import Step, method_of
from wsss.runtime import fit_threads
from wsss.stages import (
    Stage,
    affinity,
    cams,
    classifier,
    crf_labels,
    evaluate,
    pretrain,
    pseudo_labels,
    random_walk,
    refine,
    segment,
)

STAGES: dict[str, Stage] = {m.STAGE.name: m.STAGE for m in (
    pretrain, classifier, cams, refine, pseudo_labels, crf_labels, affinity, random_walk,
    segment, evaluate)}
OUTSIDE_KEY = outside_key_fields()


def plan(cfg: PipelineConfig) -> list[Step]:
    """Stages to run in order, each with its inputs as {role: upstream stage}."""
    steps: list[Step] = [("pretrain", {})]
    segment_inputs = {"pretrain": "pretrain"}
    if not (cfg.segment.enabled and cfg.segment.labels == "gt"):  # weak labels needed
        chain, labels = method_of(cfg.method).weak_labels(cfg)
        steps += chain
        segment_inputs["labels"] = labels
    if cfg.segment.enabled:
        steps += [("segment", segment_inputs), ("evaluate", {"segment": "segment"})]
    return steps


def stage_of_metric(metric: str) -> Stage:
    """The stage whose metrics carry ``metric``'s prefix: its name (``cams/miou`` -> cams)."""
    prefix = metric.split("/")[0]
    if prefix in STAGES:
        return STAGES[prefix]
    raise KeyError(f"{metric!r}: no stage reports metrics under {prefix!r}/; known: "
                   f"{sorted(STAGES)}")


def key_fields(cfg: PipelineConfig, stage: Stage) -> dict[str, Any]:
    """The config fields in ``stage``'s cache key: what it declares it reads."""
    reads = (*stage.reads, *stage.reads_if(cfg))
    return {k: v for k, v in flatten(cfg).items() if k not in OUTSIDE_KEY
            and any(k == f or (f.endswith("/") and k.startswith(f)) for f in reads)}


def dataset_key(cfg: PipelineConfig, cache: StageCache) -> tuple[VocLayout, str]:
    """The dataset and its content fingerprint (per-file digests remembered in the cache)."""
    layout = open_layout(cfg)
    name = hashlib.sha1(str(layout.root).encode()).hexdigest()  # one index per dataset
    return layout, dataset_fingerprint(layout, cache.root / "fingerprints" / f"{name}.json")


def check_data(cfg: PipelineConfig, cache: StageCache, until: str | None = None) -> str:
    """Raise ``DataError`` naming the first problem the planned stages would trip on, before
    any of them runs (``wsss.data.check.preflight``); returns the dataset fingerprint."""
    stages = [name for name, _ in plan(cfg)]
    stages = stages[: stages.index(until) + 1] if until in stages else stages
    layout, fingerprint = dataset_key(cfg, cache)
    preflight(cfg, stages, layout, fingerprint, cache.root / "checks")
    return fingerprint


def run_pipeline(
    cfg: PipelineConfig,
    cache: StageCache,
    *,
    until: str | None = None,
    report: Callable[[str, Mapping[str, float]], None] = lambda stage, m: None,
    on_stage: Callable[[CacheEntry], None] = lambda entry: None,
    execute: Callable[[Stage, Callable[[], CacheEntry]], CacheEntry] = lambda stage, fn: fn(),
    progress: Callable[[str], progress_mod.Listener] | None = None,
) -> dict[str, CacheEntry]:
    """Run (or reuse) every stage of ``plan(cfg)`` up to ``until``; one entry per stage.

    ``report(stage, metrics)`` receives per-epoch and per-stage metrics as they come;
    ``on_stage(entry)`` is called when a stage is computed or found in the cache;
    ``execute(stage, fn)`` runs a stage's cache lookup-or-compute (in-process by default; a
    Ray trial runs it as a task with the stage's resources); ``progress(stage)`` gives the
    listener of the stage's steps or images done (``wsss.progress``).
    """
    fingerprint = check_data(cfg, cache, until)
    done: dict[str, CacheEntry] = {}
    for name, roles in plan(cfg):
        stage = STAGES[name]
        fields = key_fields(cfg, stage)
        upstream = {role: done[src].key for role, src in roles.items()}
        key = stage_key(name, fields, upstream, fingerprint, stage.version)
        inputs = {role: done[src].path for role, src in roles.items()}

        def compute(out: Path, stage: Stage = stage, inputs: dict = inputs) -> Mapping:
            fit_threads()  # here, not earlier: a Ray task runs this in its own process
            (out / "config.yaml").write_text(dump_yaml(cfg))
            with progress_mod.listening(progress(stage.name) if progress else None):
                return stage.run(cfg, inputs, out, lambda m, n=stage.name: report(n, m))

        manifest = {"fields": fields, "upstream": upstream, "dataset": fingerprint,
                    "version": stage.version}
        entry = cache.get(name, key)
        if entry is None:
            # single-flight here, before ``execute`` asks for the stage's resources: a trial
            # waiting for another's entry holds no GPU, and holds the lock while its own
            # stage task computes
            with cache.claimed(name, key):
                entry = cache.get(name, key) or execute(
                    stage, functools.partial(cache.compute, name, key, compute, manifest))
        done[name] = entry
        on_stage(entry)
        if name == until:
            break
    return done


def check_weights(cfg: PipelineConfig, num_classes: int) -> list[str]:
    """Open every weights file the config names, before any trial starts, and compare its
    tensors with what the stage will load them into (on the meta device: no memory): a
    missing tensor or a wrong shape is a ``DataError`` naming the file and the tensor.
    Returns one line per file checked."""
    from wsss.weights import expected_pretrain, expected_segment, match

    checked = []
    if cfg.pretrain.source == "file":
        path, expected, what = expected_pretrain(cfg)
        match(path, expected, what)
        checked.append(f"{path}: every tensor {what} needs, of the right shape")
    if cfg.segment.enabled and cfg.segment.init == "file":
        path, expected, what = expected_segment(cfg, num_classes)
        match(path, expected, what)
        checked.append(f"{path}: every tensor {what} needs, of the right shape")
    return checked
