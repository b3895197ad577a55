"""A study on a cluster of logical GPUs (``ray.cluster_utils.Cluster`` declares GPUs that do
not exist: Ray schedules them and hands out their ids, torch sees no CUDA): as many trials as
GPUs with no flag, each network stage on a GPU node holding a GPU, the stages without a
network and the trials holding none, and the stage records saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from wsss.pipeline import STAGES

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=60)]
SCRIPT = Path(__file__).with_name("gpu_study.py")
TRAINING = ("pretrain", "classifier", "segment")


def test_a_grid_fills_the_gpus_and_only_network_stages_hold_them(tiny_root: Path,
                                                                  tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = subprocess.run([sys.executable, str(SCRIPT), str(tiny_root), str(home)],
                         capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parents[2])
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["status"] == "complete"
    assert "2 GPU(s) on the Ray cluster" in out.stdout  # the first line says how it runs
    assert result["trials"] == 2 and result["stage_cpus"] == 2  # (3 - 1) CPUs per GPU
    assert all("GPU" not in r for r in result["trial_resources"])  # trials coordinate only
    assert result["gpu_hours"] > 0

    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["gpus"])
    trial_runs = runs[runs["tags.kind"] == "trial"]
    spans = sorted(zip(trial_runs.start_time, trial_runs.end_time, strict=True))
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))  # side by side
    stages = runs[(runs["tags.kind"] == "stage") & (runs["tags.cache_hit"] == "false")]
    assert set(stages["tags.stage"]) == {"pretrain", "classifier", "cams", "pseudo_labels",
                                         "segment", "evaluate"}
    for _, run in stages.iterrows():
        name, gpu_ids = run["tags.stage"], run["tags.wsss.gpu_ids"]
        assert (gpu_ids != "") == STAGES[name].gpu, (name, gpu_ids)  # GPU held iff a network
        assert set(gpu_ids.split(",")) <= {"0", "1"} if gpu_ids else True
        assert run["tags.wsss.cpus"] == "2" and run["tags.wsss.device"] == "cpu"
        if name in TRAINING:
            assert int(run["tags.wsss.loader_workers"]) >= 1, name
        assert run["metrics.stage_held_seconds"] >= run["metrics.stage_seconds"] > 0
    hits = runs[(runs["tags.kind"] == "stage") & (runs["tags.cache_hit"] == "true")]
    assert len(hits) and set(hits["tags.wsss.gpu_ids"]) == {""}  # read by the trial: no GPU
    for report in result["reports"]:  # network stages computed on the GPU nodes
        for key, node in report.items():
            stage = key.split("/")[0]
            if key.endswith("/node") and STAGES[stage].gpu:
                assert node in result["gpu_nodes"], (key, node)
