"""GPU workers of cluster.yaml's node types start from zero for a study and go when it ends,
and a worker lost mid-stage is replaced with nothing lost or repeated: a local autoscaling
cluster (Ray's fake multi-node provider), in its own process (autoscaling_study.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from ray.tune import ExperimentAnalysis

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=90)]
SCRIPT = Path(__file__).with_name("autoscaling_study.py")


def test_gpu_workers_come_from_zero_a_lost_one_is_replaced_and_they_go_after(
        tiny_root: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    home = tmp_path / "home"
    out = subprocess.run([sys.executable, str(SCRIPT), str(tiny_root), str(home)],
                         capture_output=True, text=True, timeout=600, env=env,
                         cwd=Path(__file__).resolve().parents[2])
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads(line.removeprefix("RESULT "))
    events = result["events"]
    print("GPU workers over time (s, count):", result["timeline"])  # for the closing note
    print("events (s):", events)
    assert result["status"] == "complete"
    counts = [n for _, n in result["timeline"]]
    assert counts[0] == 0 and max(counts) >= 1  # from zero, because of the study
    assert counts[-1] == 0  # released after the idle timeout
    # the lost node: replaced by a new one, before the study completed
    assert events["node lost"] < events["replaced"] < events["study complete"]
    assert set(result["gpu_node_ids"]) - set(result["lost"])
    up = next(t for t, n in result["timeline"] if n >= 1)
    down = next(t for t, n in result["timeline"] if t > events["study complete"] and n == 0)
    assert up < events["node lost"] and down >= events["study complete"]
    for nodes in result["nodes"]:  # every stage a trial ran on a GPU-typed node, never the head
        assert "classifier/node" in nodes, nodes  # (pretrain: shared, or run before the loss)
        assert set(nodes.values()) <= set(result["gpu_node_ids"]) - {result["head"]}, nodes

    # each grid point once in Ray, Optuna and MLflow; each stage logged once per trial
    trials = ExperimentAnalysis(str(home / "ray_results" / "autoscaling")).trials
    assert len(trials) == 2 and all(t.status == "TERMINATED" for t in trials)
    assert sorted(t.config["choice"]["grid"] for t in trials) == ["d55", "learnable"]
    ot = optuna.load_study(study_name="autoscaling", storage=f"sqlite:///{home / 'optuna.db'}")
    complete = [t for t in ot.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.params["choice/grid"] for t in complete) == ["d55", "learnable"], \
        [(t.state, t.params) for t in ot.trials]
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["autoscaling"])
    trial_runs = runs[runs["tags.kind"] == "trial"]
    assert sorted(trial_runs["params.choice/grid"]) == ["d55", "learnable"]
    assert set(trial_runs.status) == {"FINISHED"}
    stages = runs[runs["tags.kind"] == "stage"]
    per = stages.groupby(["tags.ray.trial_id", "tags.stage"]).size()
    assert set(per) == {1} and len(per) == 2 * 2  # pretrain and classifier, once each
    # the first trial's classifier went on from its checkpoint on the new node
    client = mlflow.MlflowClient()
    resumed = [m.value for run_id in stages[stages["tags.stage"] == "classifier"].run_id
               for m in client.get_metric_history(run_id, "resumed_at_round")]
    assert resumed and min(resumed) >= 1, resumed
