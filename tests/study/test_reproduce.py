"""`wsss reproduce` orchestration: one study per (grid, seed) under predictable names, reuse of
finished studies, tables over all of them, claims in the report. Ray is replaced by a launch
that logs each grid point as a finished MLflow trial, as the trainables log them (the real
launch is tested in test_study.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pytest

from search_spaces import GRIDS
from study.cli import main
from study.spec import Home, Resources
from wsss import config
from wsss.keys import flatten


def _fake_value(params: dict) -> float:
    """A made-up but deterministic pseudo-label mIoU: DRS helps, refinement adds 0.01."""
    value = 0.60 if params["classifier/drs"] == "none" else 0.70
    if params["classifier/drs"] == "constant":
        value -= abs(params["classifier/drs_delta"] - 0.55) / 5
    value -= 0.02 * (6 - len(params["classifier/drs_layers"]))
    return value + 0.01 * params["refine/enabled"] + 0.004 * params["seed"]


def _fake_launch(launched: list[str]):
    def launch(spec, home: Home, *, resume: bool = False, res=None):
        launched.append(spec.name)
        mlflow.set_tracking_uri(home.tracking_uri)
        experiment = mlflow.create_experiment(
            spec.name, artifact_location=home.artifact_location(spec.name))
        with mlflow.start_run(experiment_id=experiment, tags={"kind": "study"}) as study:
            mlflow.log_params({"study/objective": spec.objective})
        for point in GRIDS[spec.grid].values():
            params = flatten(config.resolve({**spec.overrides, **point}))
            with mlflow.start_run(experiment_id=experiment, parent_run_id=study.info.run_id,
                                  tags={"kind": "trial"}):
                mlflow.log_params({k: str(v) for k, v in params.items()})
                value = _fake_value(params)
                mlflow.log_metrics({"pseudo_labels/miou": value, "evaluate/miou": value - 0.05,
                                    "evaluate/miou_crf": value - 0.02})
        home.save(spec.__class__(**{**spec.__dict__, "status": "complete"}))
        return {"status": "complete", "trials": len(GRIDS[spec.grid]), "errors": 0,
                "seconds": 0.0}

    return launch


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_root: Path):
    monkeypatch.setenv("WSSS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    launched: list[str] = []
    monkeypatch.setattr("study.runner.launch", _fake_launch(launched))
    monkeypatch.setattr("study.commands._init_ray", lambda home: None)
    monkeypatch.setattr("study.commands.sized", lambda spec: (spec, Resources(1, 1.0, 0.0)))
    return tmp_path / "home", launched


@pytest.mark.slow(seconds=30)
def test_reproduce_runs_every_grid_per_seed_then_reuses_them(fake_home, tiny_root: Path,
                                                             capsys) -> None:
    home, launched = fake_home
    argv = ["reproduce", "--paper", "drs", "--profile", "tiny", "--seeds", "0", "1",
            f"data/root={tiny_root}"]
    assert main(argv) == 0
    assert launched == [f"reproduce-drs-tiny-{g}-s{s}" for g in ("drs1", "drs2", "drs3")
                        for s in (0, 1)]
    out = capsys.readouterr().out
    # tables over all six studies: learnable in layer1-6 without refinement is a point of
    # drs1, drs2 and drs3, one setting; each seed counts once (n=2, not 6)
    assert "| learnable | 70.2 ± 0.3 (n=2) |" in out
    assert "| learnable | without | 70.2 ± 0.3 (n=2) |" in out
    assert "| DRS | refinement adds to both controllers | holds |" in out
    assert "| DRS | DRS at an intermediate δ (0.55) beats no DRS | holds |" in out
    report = home / "reproduce" / "reproduce-drs-tiny" / "report.md"
    assert report.exists() and (report.parent / "drs3.png").exists()
    # a second call reuses the six finished studies and rewrites the same report
    launched.clear()
    assert main(argv) == 0
    assert launched == [] and "reused" in capsys.readouterr().out
    assert "Splits: pseudo-label mIoU on train" in report.read_text()
    # the same data somewhere else (another folder, another machine's mount) is the same
    # study: the signature reads the dataset's content, not its path
    moved = tiny_root.parent / "tiny-moved"
    shutil.copytree(tiny_root, moved, dirs_exist_ok=True)
    assert main([*argv[:-1], f"data/root={moved}"]) == 0
    assert launched == [] and "made by another" not in capsys.readouterr().out
    # a study made by another configuration or stage code is not passed off as current:
    # the next free name runs it, and only the new studies fill the tables
    path = home / "studies" / "reproduce-drs-tiny-drs1-s0.json"
    stale = json.loads(path.read_text())
    path.write_text(json.dumps({**stale, "signature": "older-code"}))
    assert main(argv) == 0
    assert launched == ["reproduce-drs-tiny-drs1-s0-v2"]
    assert "drs1-s0] made by another configuration" in capsys.readouterr().out
    assert "reproduce-drs-tiny-drs1-s0-v2" in report.read_text()
    assert "reproduce-drs-tiny-drs1-s0," not in report.read_text()
