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
    assert out["cam"].shape == (5, 20, 41, 41) and out["cam"].is_cuda
    out["logits"].sum().backward()
    assert model.layer1[1].fc.weight.grad is not None


def test_tiny_pipeline_on_cuda_matches_cpu_shapes(tiny_root: Path, tmp_path: Path) -> None:
    cfg = config.resolve({"profile": "tiny", "data/root": str(tiny_root), "device": "cuda",
                          "data/workers": 0, "evaluate/workers": 1})
    entries = run_pipeline(cfg, StageCache(tmp_path))
    assert 0.0 <= entries["evaluate"].metrics["seg/miou"] <= 1.0
