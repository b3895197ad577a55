"""A study submitted as a Ray Job, exactly as docs/cluster.md shows it: `ray job submit
--working-dir . --runtime-env-json '{"env_vars": ...}' -- wsss study run ...` against a head
of our own with its dashboard (the Jobs API), with Ray 2.60's token; its trials land in the
MLflow store under the WSSS_HOME the job named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=45)]
REPO = Path(__file__).resolve().parents[2]


def test_a_study_submitted_as_a_ray_job_records_its_trials(tiny_root: Path, tmp_path: Path,
                                                           local_ray) -> None:
    home = tmp_path / "home"
    head = local_ray.start_head("--num-cpus=2", "--num-gpus=0", dashboard=True)
    env = head.env
    try:
        # `wsss` on the job's PATH, as a cluster node's environment has it (Ray expands
        # ${PATH}; a head started with this venv first on its PATH got no job agent here)
        job_env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}${{PATH}}",
                   "WSSS_HOME": str(home),
                   "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
        submit = [str(Path(sys.executable).with_name("ray")), "job", "submit", "--address",
                  head.dashboard, "--working-dir", ".", "--runtime-env-json",
                  json.dumps({"env_vars": job_env}), "--",
                  "wsss", "study", "run", "drs-controller", "--samples", "2", "--profile",
                  "tiny", "--until", "cams", "--objective", "cams/miou", "--name", "job",
                  f"data/root={tiny_root}",
                  "data/workers=0"]
        for _ in range(10):  # the head's job agent comes up some seconds after `ray start`
            out = subprocess.run(submit, cwd=REPO, env=env, capture_output=True, text=True,
                                 timeout=600)
            if "No available agent to submit job" not in out.stdout + out.stderr:
                break
            time.sleep(2)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "succeeded" in out.stdout + out.stderr
        assert "job: complete (2/2 trials" in out.stdout + out.stderr
    finally:
        head.stop()
    assert not head.ours()  # the head's processes, and only they, are gone
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["job"], filter_string="tags.kind = 'trial'")
    assert len(runs) == 2 and set(runs.status) == {"FINISHED"}
    assert runs["metrics.cams/miou"].between(0, 1).all()
    assert (home / "studies" / "job.json").exists() and (home / "optuna.db").exists()
