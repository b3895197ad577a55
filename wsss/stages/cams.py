"""Stage `cams`: localization maps of the classifier on the training and scored splits.

Images are squashed to ``cams/input_size`` (DRS; 0 keeps each image's size, batch 1), run at
``cams/scales`` (x input size; DRS's {256, 320, 384} = 0.8 / 1.0 / 1.2 x 320), optionally
flipped, fused by ``cams/fusion`` and normalised (``wsss.ops.cam``). The fused map at input
size is resized to the image's original size and stored for its present classes only in
``maps/<name>.wmap`` (``cams/store``: uint8 = floor(x * 255), or float16), never in the dataset.

Scored on the eval split against ground truth (``scoring/gt_dir``): the CAM-only prediction
argmax([t, maps]) for a sweep of constant background scores t. ``cams/miou`` is the score at
``cams/bg_score`` when set (SSENet Eq. 3: 0.2), else the best t's (``cams/best_bg``);
``cams/miou_best`` is always the sweep's best (a ground-truth peek: reported, never used).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from wsss.artifacts import CLASSIFIER, MAPS, classifier_from_config, load_model
from wsss.data.splits import map_records, open_layout
from wsss.maps import score_maps, write_maps
from wsss.options import PipelineConfig
from wsss.runtime import (
    Report,
    mixed,
    no_report,
    pick_device,
    seed_everything,
    write_json,
)
from wsss.stages import Stage
from wsss.viz import write_stage_overlay


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    layout = open_layout(cfg)
    model = load_model(inputs["classifier"] / CLASSIFIER,
                       lambda n: classifier_from_config(cfg, n), device,
                       channels_last=cfg.channels_last)
    write_maps(mixed(lambda x: model(x)["cam"], device, cfg.precision), cfg, layout,
               map_records(cfg, layout),
               out_dir / MAPS, device, relu=True, normalize=True, store=cfg.cams.store)
    metrics, sweep = score_maps(cfg, layout, out_dir / MAPS, "cams")
    write_json(sweep, out_dir / "threshold_sweep.json")
    write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics


STAGE = Stage(
    name="cams", run=run, reads=("precision", "data/", "seed", "cams/", "scoring/"),
    score="cams/miou", gpu=True, version="5")
