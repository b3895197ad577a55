"""Mixed precision (``precision``): off by default, a key of every network stage, and on when
asked in the training step and the inference passes (bf16 autocast also runs on the CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wsss import config, engine
from wsss.cache import StageCache
from wsss.models.classifier import DRSClassifier
from wsss.pipeline import STAGES, key_fields, run_pipeline

TINY = {"profile": "tiny", "data/workers": 0, "pseudo_labels/workers": 1}


def test_precision_is_off_in_both_presets_and_keys_the_network_stages() -> None:
    for method in ("drs", "ssenet"):
        for preset in ("reference", "paper"):
            cfg = config.resolve({"method": method, "preset": preset, "profile": "quick"})
            assert cfg.precision == "fp32"
    fp32, bf16 = (config.resolve({"precision": p}) for p in ("fp32", "bf16"))
    for name, stage in STAGES.items():
        changed = key_fields(fp32, stage) != key_fields(bf16, stage)
        assert changed == stage.gpu, name  # exactly the stages that run a network
    with pytest.raises(config.ConfigError, match="precision"):
        config.resolve({"precision": "fp8"})


@pytest.mark.slow
def test_bf16_autocast_reaches_training_and_inference(tiny_root: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool]] = []  # (training step?, autocast on?) per classifier call
    forward = DRSClassifier.forward

    def recording(self, x):
        seen.append((torch.is_grad_enabled(), torch.is_autocast_enabled("cpu")))
        return forward(self, x)

    monkeypatch.setattr(DRSClassifier, "forward", recording)
    for precision in ("fp32", "bf16"):
        seen.clear()
        cfg = config.resolve({**TINY, "data/root": str(tiny_root), "precision": precision})
        entries = run_pipeline(cfg, StageCache(tmp_path / precision), until="cams")
        training = [on for grad, on in seen if grad]
        inference = [on for grad, on in seen if not grad]
        assert training and inference  # pretrain/classifier steps, val and map passes
        assert set(training) == set(inference) == {precision == "bf16"}
        assert 0.0 <= entries["cams"].metrics["cams/miou"] <= 1.0


def test_fp16_scales_the_loss_and_checkpoints_the_scaler(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    dtypes: list[torch.dtype] = []

    def step(batch):
        out = model(batch[0])
        dtypes.append(out.dtype)
        return torch.nn.functional.mse_loss(out.float(), batch[1]), {}

    engine.fit(model, opt, sched, epochs=1, batches=lambda e: [(x, y)], step=step,
               checkpoint=tmp_path / "ck.pt", report=lambda m: None,
               device=torch.device("cpu"), precision="fp16")
    assert dtypes == [torch.float16]
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert state["scaler"]["scale"] > 1.0  # the scaler ran (its initial scale is 65536)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights
