"""The segmentation stages on the tiny benchmark: GT upper bound, resume, evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from wsss import config
from wsss.artifacts import SEGMENTER
from wsss.cache import StageCache
from wsss.pipeline import plan, run_pipeline
from wsss.runtime import load_torch
from wsss.stages import evaluate, segment
from wsss.stages.segment import IterationBatches
from wsss.testing import Interrupt, interrupt_at


def _cfg(root: Path, **overrides) -> config.PipelineConfig:
    return config.resolve({"profile": "tiny", "data/root": str(root), "data/workers": 0,
                           "pseudo_labels/workers": 1, "evaluate/workers": 1, **overrides})


@pytest.mark.slow
def test_gt_upper_bound_skips_the_weak_stages(tiny_root: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_root, **{"segment/labels": "gt"})
    assert [s for s, _ in plan(cfg)] == ["pretrain", "segment", "evaluate"]
    entries = run_pipeline(cfg, StageCache(tmp_path))
    m = entries["evaluate"].metrics
    for key in ("evaluate/miou", "evaluate/miou_all", "evaluate/miou_crf", "evaluate/miou_crf_all",
                "evaluate/iou_0"):
        assert 0.0 <= m[key] <= 1.0
    out = entries["evaluate"].path
    counts = np.load(out / "confusion.npy")
    assert counts.shape == (9, 10) and counts.sum() == 16 * 64 * 64  # every val pixel scored
    assert len(list((out / "labels").glob("*.png"))) == 16 and (out / "overlay.png").exists()
    # predicting one image at a time scores the same pixels the same (batching is speed only)
    single = evaluate.run(_cfg(tiny_root, **{"segment/labels": "gt", "evaluate/batch_size": 1}),
                          {"segment": entries["segment"].path}, tmp_path / "single")
    assert single == pytest.approx(m, abs=1e-6)
    assert np.array_equal(np.load(tmp_path / "single" / "confusion_crf.npy"),
                          np.load(out / "confusion_crf.npy"))
    # the held-out test split is scored apart (evaluate/report/...), on its own images, exactly as
    # the selection split would be if it were the one selected on
    selected = {p.stem for p in (out / "labels").glob("*.png")}
    held = {p.stem for p in (out / "report" / "labels").glob("*.png")}
    assert len(held) == 16 and not held & selected and all(n.startswith("2028_") for n in held)
    assert np.load(out / "report" / "confusion.npy").sum() == 16 * 64 * 64
    as_selection = evaluate.run(
        _cfg(tiny_root, **{"segment/labels": "gt", "data/select_split": "test",
                           "data/report_split": ""}),
        {"segment": entries["segment"].path}, tmp_path / "as_selection")
    for key in ("miou", "miou_crf", "miou_gt", "miou_all", "iou_crf_3"):
        assert m[f"evaluate/report/{key}"] == pytest.approx(as_selection[f"evaluate/{key}"],
                                                            abs=1e-9)
    assert not any(k.startswith("evaluate/report/") for k in as_selection)


@pytest.mark.slow
def test_pseudo_label_pipeline_reaches_evaluate(tiny_root: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_root, **{"evaluate/crf": False})
    names = [s for s, _ in plan(cfg)]
    assert names == ["pretrain", "classifier", "cams", "pseudo_labels", "segment", "evaluate"]
    m = run_pipeline(cfg, StageCache(tmp_path))["evaluate"].metrics
    assert "evaluate/miou" in m and "evaluate/miou_crf" not in m


def test_batched_prediction_equals_one_image_at_a_time() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                torch.nn.ReLU(), torch.nn.Conv2d(8, 5, 3, stride=2)).eval()
    model[1].running_mean.uniform_(-1, 1)  # eval-mode statistics that are not the identity
    images = torch.randn(4, 3, 12, 10)
    both = evaluate.predict(model, images, (12, 10), flip=True, align_corners=True)
    assert both.shape == (4, 5, 12, 10)
    assert torch.allclose(both.sum(dim=1), torch.ones(4, 12, 10), atol=1e-5)
    for i in range(4):
        one = evaluate.predict(model, images[i:i + 1], (12, 10), flip=True, align_corners=True)
        assert torch.allclose(one[0], both[i], atol=1e-6)
    flipped = evaluate.predict(model, images.flip(dims=(3,)), (12, 10), flip=True,
                               align_corners=True)
    assert torch.allclose(flipped, both.flip(dims=(3,)), atol=1e-6)  # flip-averaged: symmetric
    sizes = [(2, 2), (2, 2), (2, 2), (3, 2), (2, 2)]
    runs = evaluate.same_size_runs(({"size": s, "i": i} for i, s in enumerate(sizes)), 2)
    assert [[item["i"] for item in run] for run in runs] == [[0, 1], [2], [3], [4]]


def test_iteration_batches_resume_where_they_stopped() -> None:
    full = list(IterationBatches(10, 3, seed=1, start=0, total=8))
    tail = list(IterationBatches(10, 3, seed=1, start=5, total=8))
    assert tail == full[5:] and all(len(b) == 3 for b in full)
    assert sorted(sum(full[:3], [])) == sorted(set(sum(full[:3], [])))  # one epoch: no repeats


@pytest.mark.slow
def test_killed_segmentation_resumes_from_its_checkpoint(tiny_root: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_root, **{"segment/labels": "gt", "segment/iterations": 6,
                             "segment/checkpoint_every": 2})

    cache = StageCache(tmp_path / "a")
    with pytest.raises(Interrupt):
        run_pipeline(cfg, cache, until="segment", report=interrupt_at("segment", "iteration", 4))
    seen = []
    resumed = run_pipeline(cfg, cache, until="segment",
                           report=lambda s, m: seen.append(m.get("iteration")))
    assert seen == [6.0]  # iterations 1-4 were not trained again
    straight = run_pipeline(cfg, StageCache(tmp_path / "b"), until="segment")
    a = load_torch(resumed["segment"].path / SEGMENTER)["state_dict"]
    b = load_torch(straight["segment"].path / SEGMENTER)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["segment"].metrics == straight["segment"].metrics  # loss history resumed


def test_self_training_term_adds_to_the_loss() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    masks = torch.full((2, 8, 8), 255, dtype=torch.long)  # nothing labelled
    labels = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    plain = segment.segmentation_loss(logits, masks, labels, self_training=False)
    extra = segment.segmentation_loss(logits, masks, labels, self_training=True)
    assert plain == 0  # all ignored: no NaN, no signal
    assert extra > 0 and torch.isfinite(extra)
