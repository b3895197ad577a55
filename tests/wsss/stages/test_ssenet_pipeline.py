"""The SSENet stages chained on the tiny benchmark through the stage cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsss import artifacts, config
from wsss.cache import StageCache
from wsss.data.voc import VocLayout, load_records
from wsss.engine import optimizer, poly_decay
from wsss.pipeline import plan, run_pipeline
from wsss.runtime import load_torch, save_torch
from wsss.stages import pretrain

STAGES = ["pretrain", "classifier", "cams", "crf_labels", "affinity", "random_walk"]


def _cfg(root: Path, **overrides) -> config.PipelineConfig:
    return config.resolve({"method": "ssenet", "profile": "tiny", "data/root": str(root),
                           "data/workers": 0, "crf_labels/workers": 1, "segment/enabled": False,
                           **overrides})


@pytest.fixture(scope="module")
def sse_run(tmp_path_factory: pytest.TempPathFactory, tiny_root: Path):
    cache = StageCache(tmp_path_factory.mktemp("cache"))
    cfg = _cfg(tiny_root)
    return cfg, cache, run_pipeline(cfg, cache)


@pytest.mark.slow
def test_every_stage_runs_and_reports(sse_run) -> None:
    cfg, _, entries = sse_run
    assert list(entries) == STAGES
    m = {k: v for e in entries.values() for k, v in e.metrics.items()}
    assert m["classifier/ser_loss"] >= 0 and "classifier/cls_small_loss" in m
    assert 0 <= m["cams/miou"] <= 1 and m["cams/miou"] <= m["cams/miou_best"] + 1e-12
    assert 0 < m["crf_labels/coverage"] <= 1 and 0 <= m["crf_labels/precision"] <= 1
    assert 0 <= m["affinity/pair_accuracy"] <= 1 and m["affinity/loss"] > 0
    assert 0 <= m["random_walk/miou"] <= 1
    assert m["random_walk/coverage"] == 1.0  # no 255 after the walk


@pytest.mark.slow
def test_ssenet_scoring_protocol(sse_run) -> None:
    cfg, _, _ = sse_run
    assert (cfg.scoring.protocol, cfg.scoring.gt_dir, cfg.cams.bg_score) == (
        "mean", "SegmentationClass", 0.2)
    quick = config.resolve({"method": "ssenet", "profile": "quick"})
    assert (quick.cams.fusion, quick.cams.flip, quick.cams.scales) == ("sum", True,
                                                                       (1.0, 0.5, 1.5, 2.0))


@pytest.mark.slow
def test_random_walk_labels_cover_every_image_with_present_classes_only(sse_run,
                                                                        tiny_root: Path) -> None:
    cfg, _, entries = sse_run
    layout = VocLayout.open(tiny_root)
    recs = load_records(layout, cfg.data.train_split)
    for rec in recs:
        label = np.asarray(Image.open(entries["random_walk"].path / "labels" / f"{rec.name}.png"))
        assert label.shape == np.asarray(Image.open(layout.image_path(rec.name))).shape[:2]
        assert set(np.unique(label).tolist()) <= {0, *[k + 1 for k in rec.labels]}


@pytest.mark.slow
def test_crf_marginals_are_stored_per_training_image(sse_run, tiny_root: Path) -> None:
    cfg, _, entries = sse_run
    layout = VocLayout.open(tiny_root)
    rec = load_records(layout, cfg.data.train_split)[0]
    classes, la, ha = artifacts.load_marginals(
        artifacts.maps_path(entries["crf_labels"].path / artifacts.MARGINALS, rec.name))
    assert sorted(classes.tolist()) == sorted(rec.labels)
    assert la.shape == ha.shape == (len(rec.labels) + 1, 64, 64)
    assert np.abs(la.sum(axis=0) - 1).max() < 0.05  # uint8 floor of a distribution


@pytest.mark.slow
def test_a_random_walk_change_reuses_every_trained_stage(sse_run, tiny_root: Path) -> None:
    _, cache, first = sse_run
    entries = run_pipeline(_cfg(tiny_root, **{"random_walk/steps": 8}), cache)
    assert [e.hit for e in entries.values()] == [True] * 5 + [False]
    assert entries["affinity"].key == first["affinity"].key
    assert entries["random_walk"].key != first["random_walk"].key


def test_baseline_and_the_paper_preset_are_different_classifiers(tiny_root: Path) -> None:
    base = _cfg(tiny_root, **{"classifier/ser_rate": None})
    assert base.classifier.ser_rate is None
    voc = config.resolve({"method": "ssenet", "pretrain/weights_file": "a1.pth"})
    paper = config.resolve({"method": "ssenet", "preset": "paper",
                            "pretrain/weights_file": "a1.pth"})
    assert (voc.classifier.momentum, paper.classifier.momentum) == (5e-4, 0.9)
    assert (voc.classifier.batch_size, paper.classifier.batch_size) == (16, 8)
    assert voc.classifier.scale_range == (448, 768) and voc.classifier.ser_rate == 0.3
    assert voc.classifier.arch == "resnet38" and voc.segment.arch == "aspp"
    names = [n for n, _ in plan(voc)]
    assert names == [*STAGES, "segment", "evaluate"]
    assert dict(plan(voc))["segment"]["labels"] == "random_walk"


@pytest.mark.parametrize(("key", "value"), [("classifier/ser_rate", 1.5),
                                            ("classifier/scale_range", "[500, 400]"),
                                            ("random_walk/steps", -1)])
def test_bad_ssenet_values_name_the_key(tiny_root: Path, key: str, value) -> None:
    with pytest.raises(config.ConfigError, match=key):
        _cfg(tiny_root, **{key: value})


def test_resnet38_weights_come_from_a_file_with_psa_names(tmp_path: Path,
                                                          tiny_root: Path) -> None:
    from wsss.models.resnet38 import ResNet38

    trunk = ResNet38().state_dict()
    given = {**trunk, "fc1000.weight": torch.zeros(3)}  # the ImageNet head is dropped
    save_torch(given, tmp_path / "a1.pth")
    cfg = _cfg(tiny_root, **{"classifier/arch": "resnet38", "pretrain/source": "file",
                             "pretrain/weights_file": str(tmp_path / "a1.pth")})
    pretrain.run(cfg, {}, tmp_path)
    saved = load_torch(tmp_path / artifacts.BACKBONE)["state_dict"]
    assert set(saved) == {f"trunk.{k}" for k in trunk}
    model = artifacts.affinity_from_config(cfg, 5)
    assert artifacts.load_backbone(model.backbone, tmp_path / artifacts.BACKBONE) == len(trunk)
    del given["b4_3.conv_branch2a.weight"]
    save_torch(given, tmp_path / "a1.pth")
    with pytest.raises(KeyError, match="lack 1 trunk tensors"):
        pretrain.run(cfg, {}, tmp_path)


def test_poly_schedule_and_psa_bias_groups() -> None:
    f = poly_decay(100, 0.9)
    assert f(0) == 1.0 and f(100) == 0.0 and f(50) == pytest.approx(0.5 ** 0.9)
    w, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = optimizer({"backbone_w": [w], "backbone_b": [b]}, kind="sgd", lr=0.01,
                    momentum=5e-4, weight_decay=5e-4, decay_biases=False)
    groups = opt.param_groups
    assert [g["lr"] for g in groups] == [0.01, 0.02]
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert groups[0]["momentum"] == 5e-4
