"""The DRS stages chained on the tiny benchmark through the stage cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from study.cli import main
from wsss import config
from wsss.artifacts import (
    CLASSIFIER,
    classifier_from_config,
    load_backbone,
    maps_path,
    read_map_file,
)
from wsss.cache import StageCache
from wsss.pipeline import run_pipeline
from wsss.runtime import load_torch
from wsss.testing import Interrupt, interrupt_at


def _cfg(root: Path, **overrides) -> config.PipelineConfig:
    return config.resolve({"profile": "tiny", "data/root": str(root), "data/workers": 0,
                           "pseudo_labels/workers": 1, "segment/enabled": False, **overrides})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_root: Path):
    cache = StageCache(tmp_path_factory.mktemp("cache"))
    cfg = _cfg(tiny_root, **{"refine/enabled": True, "classifier/drs": "constant",
                             "classifier/drs_delta": 0.55})
    return cfg, cache, run_pipeline(cfg, cache)


@pytest.mark.slow
def test_every_stage_runs_and_publishes(tiny_run, tiny_root: Path) -> None:
    cfg, cache, entries = tiny_run
    assert list(entries) == ["pretrain", "classifier", "cams", "refine", "pseudo_labels"]
    for entry in entries.values():
        assert not entry.hit and entry.path.is_relative_to(cache.root)
        assert (entry.path / "manifest.json").exists() and (entry.path / "config.yaml").exists()
        assert not entry.path.with_name(entry.key + ".partial").exists()
    assert not (entries["classifier"].path / "checkpoint.pt").exists()  # only final weights
    pl = entries["pseudo_labels"]
    for key in ("pseudo_labels/miou", "pseudo_labels/miou_ignore", "pseudo_labels/miou_miss",
                "pseudo_labels/coverage"):
        assert 0.0 <= pl.metrics[key] <= 1.0
    assert pl.metrics["pseudo_labels/miou_ignore"] >= pl.metrics["pseudo_labels/miou_miss"]
    names = [line.split()[0] for line in
             (tiny_root / "ImageSets/Segmentation/train_aug.txt").read_text().splitlines()]
    assert len(list((pl.path / "labels").glob("*.png"))) == len(names)
    with Image.open(pl.path / "labels" / f"{names[0]}.png") as img:
        assert img.mode == "P" and set(np.unique(np.asarray(img))) <= {0, *range(1, 9), 255}
    assert len(list((entries["cams"].path / "maps").glob("*.wmap"))) == len(names)
    for stage in ("cams", "refine", "pseudo_labels"):
        assert (entries[stage].path / "overlay.png").exists()
    # refinement targets: the classifier's maps at the training input size, as stored uint8
    size = cfg.cams.input_size
    _, target = read_map_file(maps_path(entries["refine"].path / "targets", names[0]))
    assert target.dtype == np.uint8 and target.shape[1:] == (size, size)
    _, refined = read_map_file(maps_path(entries["refine"].path / "maps", names[0]))
    with Image.open(tiny_root / "JPEGImages" / f"{names[0]}.jpg") as img:
        assert refined.dtype == np.float16 and refined.shape[1:] == (img.height, img.width)
    # nothing was written into the dataset folder
    assert sorted(p.name for p in tiny_root.iterdir()) == [
        "ImageSets", "JPEGImages", "SegmentationClass", "SegmentationClassAug",
        "cls_labels.npy", "saliency_map", "wsss_dataset.json"]


@pytest.mark.slow
def test_second_run_hits_and_alpha_change_recomputes_only_labels(tiny_run) -> None:
    cfg, cache, first = tiny_run
    again = run_pipeline(cfg, cache)
    assert all(e.hit for e in again.values())
    np.testing.assert_equal({k: e.metrics for k, e in again.items()},
                            {k: e.metrics for k, e in first.items()})  # NaN-aware
    changed = run_pipeline(config.replace(cfg, **{"pseudo_labels/alpha": 0.3}), cache)
    assert [k for k, e in changed.items() if not e.hit] == ["pseudo_labels"]
    assert changed["classifier"].key == first["classifier"].key


@pytest.mark.slow
def test_same_config_and_seed_same_numbers(tiny_run, tmp_path: Path) -> None:
    cfg, _, first = tiny_run
    fresh = run_pipeline(cfg, StageCache(tmp_path))
    np.testing.assert_equal(fresh["pseudo_labels"].metrics, first["pseudo_labels"].metrics)
    a = load_torch(first["classifier"].path / CLASSIFIER)["state_dict"]
    b = load_torch(fresh["classifier"].path / CLASSIFIER)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_killed_classifier_resumes_from_its_checkpoint(tiny_root: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_root, **{"classifier/epochs": 3, "classifier/drs": "learnable"})

    cache = StageCache(tmp_path / "a")
    with pytest.raises(Interrupt):
        run_pipeline(cfg, cache, until="classifier", report=interrupt_at("classifier", "epoch", 1))
    partial = next((cache.root / "classifier").glob("*.partial"))
    assert load_torch(partial / "checkpoint.pt")["epoch"] == 1
    epochs = []
    resumed = run_pipeline(cfg, cache, until="classifier",
                           report=lambda s, m: epochs.append(m.get("epoch")))
    assert epochs == [2.0, 3.0]  # epoch 1 was not trained again
    straight = run_pipeline(cfg, StageCache(tmp_path / "b"), until="classifier")
    a = load_torch(resumed["classifier"].path / CLASSIFIER)["state_dict"]
    b = load_torch(straight["classifier"].path / CLASSIFIER)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # resume == uninterrupted


@pytest.mark.slow
def test_oracle_selection_is_guarded_and_recorded(tiny_root: Path, tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="oracle=true"):
        _cfg(tiny_root, **{"classifier/select": "oracle"})
    cfg = _cfg(tiny_root, **{"classifier/select": "oracle", "oracle": True,
                             "classifier/epochs": 2})
    entry = run_pipeline(cfg, StageCache(tmp_path), until="classifier")["classifier"]
    assert entry.metrics["classifier/oracle_epoch"] in (1.0, 2.0)
    assert 0.0 <= entry.metrics["classifier/oracle_miou"] <= 1.0
    assert load_torch(entry.path / CLASSIFIER)["select"] == "oracle"


@pytest.mark.slow
def test_backbone_mismatch_and_missing_weights_are_clear(tiny_run, tmp_path: Path) -> None:
    cfg, _, entries = tiny_run
    model = classifier_from_config(cfg, 5)  # a 5-class head cannot take the 8-class backbone
    with pytest.raises(ValueError, match="classifier.weight"):
        load_backbone(model, entries["pretrain"].path / "backbone.pt")
    bad = config.replace(cfg, **{"pretrain/source": "file",
                                 "pretrain/weights_file": str(tmp_path / "none.pth"),
                                 "classifier/arch": "vgg16_d1"})
    with pytest.raises(FileNotFoundError, match="pretrain/weights_file"):
        run_pipeline(bad, StageCache(tmp_path / "c"), until="pretrain")


@pytest.mark.slow
def test_overlay_cli_on_a_stage_folder(tiny_run, tmp_path: Path, capsys) -> None:
    _, _, entries = tiny_run
    out = tmp_path / "o.png"
    assert main(["viz", "overlay", str(entries["cams"].path), "--n", "3", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.height == 3 * 64 and img.width >= 3 * 64  # image | gt | >= 1 map per row
    assert main(["viz", "overlay", str(tmp_path)]) == 2


@pytest.mark.slow
def test_run_cli_prints_a_line_per_stage(tiny_root: Path, tmp_path: Path, capsys) -> None:
    code = main(["run", "--cache", str(tmp_path), "--until", "classifier", "profile=tiny",
                 f"data/root={tiny_root}", "data/workers=0"])
    out = capsys.readouterr().out
    assert code == 0 and "[pretrain] computed" in out and "[classifier] computed" in out
    # not a terminal: plain progress lines, each stage's steps up to its total
    steps = [line for line in out.splitlines() if line.startswith("[classifier] ")
             and " steps " in line]
    assert steps and "\r" not in out and "(100%)" in steps[-1]
    manifest = json.loads(next((tmp_path / "classifier").glob("*/manifest.json")).read_text())
    assert manifest["fields"]["classifier/drs"] == "learnable"


@pytest.mark.slow
def test_a_corrupted_checkpoint_is_recomputed_not_served(tiny_root: Path, tmp_path: Path,
                                                         caplog) -> None:
    cfg = _cfg(tiny_root)
    cache = StageCache(tmp_path)
    first = run_pipeline(cfg, cache, until="cams")
    weights = first["classifier"].path / CLASSIFIER
    original = weights.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF  # same size: only the checksum can tell
    weights.write_bytes(bytes(data))
    again = run_pipeline(cfg, cache, until="cams")
    assert again["pretrain"].hit and not again["classifier"].hit  # recomputed, with a warning
    assert "is bad" in caplog.text and first["classifier"].key in caplog.text
    assert (again["classifier"].path / CLASSIFIER).read_bytes() == original  # deterministic
    assert again["cams"].hit and again["cams"].key == first["cams"].key
