"""Stage `pseudo_labels`: DRS labels from maps (classifier or refined) and saliency.

Writes palettised PNGs (VOC palette, 255 = ignore) to ``labels/`` for the training and
scored splits, over a process pool, and scores the scored split against ``eval/gt_dir``:
``pseudo/miou`` under ``eval/pred_ignore``, plus both policies explicitly
(``pseudo/miou_ignore``: ignored pixels left out; ``pseudo/miou_miss``: counted as misses),
coverage, precision, m_FN and m_FP.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.config import PipelineConfig
from wsss.data.layout import voc_palette
from wsss.data.voc import VocLayout, load_mask, load_saliency
from wsss.ops.cam import load_maps, maps_path
from wsss.ops.metrics import ConfusionMatrix
from wsss.ops.pseudo_labels import pseudo_label
from wsss.runtime import Report, no_report
from wsss.stages import cams, common

LABELS = "labels"


def _label_chunk(args: tuple) -> np.ndarray:
    """Write the labels of some images; return the confusion counts of the scored ones."""
    cfg, layout, names, scored, maps_dir, out = args
    p, c = cfg.pseudo, layout.num_classes
    cm, palette = ConfusionMatrix(c + 1), voc_palette()
    for name in names:
        maps = load_maps(maps_path(maps_dir, name), c)
        sal = load_saliency(layout.saliency_path(name), maps.shape[1:]) / 255.0
        pred = pseudo_label(maps, sal, alpha=p.alpha, beta=p.beta,
                            conflict_count=p.conflict_count, conflict_conf=p.conflict_conf)
        img = Image.fromarray(pred, "P")
        img.putpalette(palette)
        tmp = out / f".{name}.png"
        img.save(tmp, format="PNG")
        tmp.rename(out / f"{name}.png")
        if name in scored:
            gt = load_mask(layout.mask_path(name, cfg.eval.gt_dir), c, pred.shape)
            cm.update(pred, gt, name=name)
    return cm.counts


def write_labels(cfg: PipelineConfig, layout: VocLayout, maps_dir: Path,
                 out: Path) -> ConfusionMatrix:
    out.mkdir(parents=True, exist_ok=True)
    names = [r.name for r in common.map_records(cfg, layout)]
    scored = {r.name for r in common.records(cfg, layout, cfg.data.eval_split)}
    workers = max(1, cfg.pseudo.workers)
    chunks = [names[i::workers * 4] for i in range(workers * 4)]
    jobs = [(cfg, layout, ch, scored & set(ch), maps_dir, out) for ch in chunks if ch]
    cm = ConfusionMatrix(layout.num_classes + 1)
    if workers == 1 or len(names) < 256:
        results = map(_label_chunk, jobs)
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_label_chunk, jobs))
    for counts in results:
        cm.counts += counts
    return cm


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    layout = common.open_layout(cfg)
    cm = write_labels(cfg, layout, inputs["maps"] / cams.MAPS, out_dir / LABELS)
    e = cfg.eval
    metrics = cm.summary("pseudo", e.protocol, e.pred_ignore)
    metrics["pseudo/miou_ignore"] = cm.miou(e.protocol, "ignore")
    metrics["pseudo/miou_miss"] = cm.miou(e.protocol, "miss")
    np.save(out_dir / "confusion.npy", cm.counts)
    common.write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics
