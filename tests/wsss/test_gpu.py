"""CUDA paths (marker `gpu`: deselected by default, run with `pytest -m gpu` on a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wsss import config
from wsss.cache import StageCache
from wsss.models.classifier import build_classifier
from wsss.pipeline import run_pipeline

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _need_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("CUDA unavailable")


def test_drs_classifier_trains_on_cuda_at_voc_resolution() -> None:
    model = build_classifier("vgg16_d1", 20, drs="learnable").to("cuda").train()
    x = torch.randn(5, 3, 321, 321, device="cuda")
    out = model(x)
    # three MaxPool2d(2, 2), pool4 and pool5 keep stride 1: 321 -> 160 -> 80 -> 40
    assert out["cam"].shape == (5, 20, 40, 40) and out["cam"].is_cuda
    out["logits"].sum().backward()
    assert model.layer1[1].fc.weight.grad is not None


def test_tiny_pipeline_on_cuda_matches_cpu_shapes(tiny_root: Path, tmp_path: Path) -> None:
    cfg = config.resolve({"profile": "tiny", "data/root": str(tiny_root), "device": "cuda",
                          "data/workers": 0, "evaluate/workers": 1})
    entries = run_pipeline(cfg, StageCache(tmp_path))
    assert 0.0 <= entries["evaluate"].metrics["evaluate/miou"] <= 1.0


def test_ser_step_on_resnet38_at_448_on_cuda() -> None:
    from wsss.models.ser import ser_step

    model = build_classifier("resnet38", 20).to("cuda").train()
    x = torch.randn(2, 3, 448, 448, device="cuda")
    labels = torch.zeros(2, 20, device="cuda")
    labels[:, 3] = 1
    out = ser_step(lambda y: model(y)["cam"], x, labels, rate=0.3)
    out.loss.backward()
    assert out.ser.is_cuda and model.fc8.weight.grad is not None


def test_random_walk_on_cuda_equals_cpu_at_voc_size() -> None:
    from wsss.ops.random_walk import propagate, transition

    g = torch.Generator().manual_seed(0)
    aff, cam = torch.rand(34, 43, 55, generator=g), torch.rand(21, 47, 63, generator=g)
    cpu = propagate(cam, transition(aff, (47, 63), 8.0), 256)
    gpu = propagate(cam.cuda(), transition(aff.cuda(), (47, 63), 8.0), 256)
    assert (gpu.cpu() - cpu).abs().max().item() < 1e-4


def test_tiny_ssenet_pipeline_on_cuda(tiny_root: Path, tmp_path: Path) -> None:
    cfg = config.resolve({"method": "ssenet", "profile": "tiny", "data/root": str(tiny_root),
                          "device": "cuda", "data/workers": 0, "crf_labels/workers": 1,
                          "segment/enabled": False})
    entries = run_pipeline(cfg, StageCache(tmp_path))
    assert 0.0 <= entries["random_walk"].metrics["random_walk/miou"] <= 1.0
