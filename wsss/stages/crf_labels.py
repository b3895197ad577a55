"""Stage `crf_labels`: SSENet/psa confident regions from the CAMs (docs/method.md, "CAMs and
confident regions").

For every training image, two dense CRFs (``psa`` kernels, 10 iterations) on the original
image and [bg, present-class CAMs] with bg = (1 - max)^``crf_labels/la_power`` and
(1 - max)^``crf_labels/ha_power``. Both sets of marginals are stored per image in
``marginals/<name>.wmap`` (``classes``, ``la``, ``ha``; background first; uint8 floor(x*255),
as the maps) for AffinityNet, which crops and pools them before taking argmaxes.

Scored on the eval split against ``scoring/gt_dir`` (never used to choose anything): the
full-resolution confident label (``confident_labels``) gives ``crf_labels/precision`` (of
labelled pixels), ``crf_labels/coverage`` (labelled share) and ``crf_labels/miou`` with unknown
pixels left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from wsss import progress
from wsss.artifacts import MAPS, MARGINALS, load_maps, maps_path, save_marginals
from wsss.data.splits import open_layout, records
from wsss.data.voc import load_image, load_mask
from wsss.ops.crf import confident_labels, confident_marginals, map_processes
from wsss.ops.metrics import ConfusionMatrix
from wsss.options import PipelineConfig
from wsss.runtime import Report, no_report
from wsss.stages import Stage


def _one(args: tuple) -> np.ndarray | None:
    cfg, layout, name, present, maps_dir, out, scored = args
    c = layout.num_classes
    maps = load_maps(maps_path(maps_dir, name), c)
    image = load_image(layout.image_path(name))
    la = confident_marginals(image, maps[present], cfg.crf_labels.la_power)
    ha = confident_marginals(image, maps[present], cfg.crf_labels.ha_power)
    save_marginals(maps_path(out, name), present, la, ha)
    if not scored:
        return None
    compact = confident_labels(la, ha)
    to_class = np.full(256, 255, np.uint8)  # compact index -> class id; 255 stays 255
    to_class[: len(present) + 1] = [0, *[k + 1 for k in present]]
    gt = load_mask(layout.mask_path(name, cfg.scoring.gt_dir), c, compact.shape)
    return ConfusionMatrix(c + 1).update(to_class[compact], gt, name=name).counts


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    layout = open_layout(cfg)
    out = out_dir / MARGINALS
    out.mkdir(parents=True, exist_ok=True)
    scored = {r.name for r in records(cfg, layout, cfg.data.score_split)}
    maps = inputs["cams"] / MAPS
    train = records(cfg, layout, cfg.data.train_split)
    jobs = ((cfg, layout, r.name, sorted(r.labels), maps, out, r.name in scored) for r in train)
    cm = ConfusionMatrix(layout.num_classes + 1)
    for counts in progress.counted(map_processes(_one, jobs, cfg.crf_labels.workers), len(train),
                                   "images"):
        if counts is not None:
            cm.counts += counts
    metrics = {"crf_labels/precision": cm.precision(), "crf_labels/coverage": cm.coverage(),
               "crf_labels/miou": cm.miou(cfg.scoring.protocol, "ignore")}
    report(metrics)
    return metrics


STAGE = Stage(
    name="crf_labels", run=run, reads=("data/", "crf_labels/", "scoring/"),
    score="crf_labels/precision", gpu=False, version="4")
