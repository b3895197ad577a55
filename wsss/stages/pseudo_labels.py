"""Stage `pseudo_labels`: DRS labels from maps (classifier or refined) and saliency.

Writes palettised PNGs (VOC palette, 255 = ignore) to ``labels/`` for the training and
scored splits, over a process pool, and scores the scored split against ``scoring/gt_dir``:
``pseudo_labels/miou`` under ``scoring/pred_ignore``, plus both policies explicitly
(``pseudo_labels/miou_ignore``: ignored pixels left out; ``pseudo_labels/miou_miss``: counted
as misses), coverage, precision, m_FN and m_FP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from wsss import progress
from wsss.artifacts import LABELS, MAPS, load_maps, maps_path, save_label_png
from wsss.data.splits import map_records, open_layout, records
from wsss.data.voc import VocLayout, load_mask, load_saliency
from wsss.ops.metrics import ConfusionMatrix
from wsss.ops.pseudo_labels import pseudo_label
from wsss.options import PipelineConfig
from wsss.runtime import Report, no_report, pool_processes
from wsss.stages import Stage
from wsss.viz import write_stage_overlay


def _label_chunk(args: tuple) -> np.ndarray:
    """Write the labels of some images; return the confusion counts of the scored ones."""
    cfg, layout, names, scored, maps_dir, out = args
    p, c = cfg.pseudo_labels, layout.num_classes
    cm = ConfusionMatrix(c + 1)
    for name in names:
        maps = load_maps(maps_path(maps_dir, name), c)
        sal = load_saliency(layout.saliency_path(name), maps.shape[1:]) / 255.0
        pred = pseudo_label(maps, sal, alpha=p.alpha, beta=p.beta,
                            conflict_count=p.conflict_count, conflict_conf=p.conflict_conf)
        save_label_png(pred, out / f"{name}.png")
        if name in scored:
            gt = load_mask(layout.mask_path(name, cfg.scoring.gt_dir), c, pred.shape)
            cm.update(pred, gt, name=name)
    return cm.counts


def write_labels(cfg: PipelineConfig, layout: VocLayout, maps_dir: Path,
                 out: Path) -> ConfusionMatrix:
    out.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in map_records(cfg, layout)]
    scored = {r.name for r in records(cfg, layout, cfg.data.score_split)}
    workers = max(1, pool_processes(cfg.pseudo_labels.workers))
    chunks = [names[i::workers * 4] for i in range(workers * 4)]
    jobs = [(cfg, layout, ch, scored & set(ch), maps_dir, out) for ch in chunks if ch]
    cm = ConfusionMatrix(layout.num_classes + 1)
    if workers == 1 or len(names) < 256:
        results: Iterable[np.ndarray] = map(_label_chunk, jobs)
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_label_chunk, jobs))
    for counts in progress.counted(results, len(jobs), "chunks"):
        cm.counts += counts
    return cm


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    layout = open_layout(cfg)
    cm = write_labels(cfg, layout, inputs["maps"] / MAPS, out_dir / LABELS)
    e = cfg.scoring
    metrics = cm.summary("pseudo_labels", e.protocol, e.pred_ignore)
    metrics["pseudo_labels/miou_ignore"] = cm.miou(e.protocol, "ignore")
    metrics["pseudo_labels/miou_miss"] = cm.miou(e.protocol, "miss")
    np.save(out_dir / "confusion.npy", cm.counts)
    write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics


STAGE = Stage(
    name="pseudo_labels", run=run, reads=("data/", "pseudo_labels/", "scoring/"),
    score="pseudo_labels/miou", gpu=False, version="3")
