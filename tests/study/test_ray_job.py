"""A study submitted as a Ray Job, exactly as docs/cluster.md shows it: `ray job submit
--working-dir . --runtime-env-json '{"env_vars": ...}' -- wsss study run ...` against a head
of our own with its dashboard (the Jobs API), with Ray 2.60's token; its trials land in the
MLflow store under the WSSS_HOME the job named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=70)]
REPO = Path(__file__).resolve().parents[2]


def test_a_study_submitted_as_a_ray_job_records_its_trials(tiny_root: Path, tmp_path: Path,
                                                           local_ray) -> None:
    home = tmp_path / "home"
    head = local_ray.start_head("--num-cpus=2", "--num-gpus=0", dashboard=True)
    try:
        # the head's environment is every job's: `wsss` on its PATH, as a cluster node has it
        env = {**head.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                   f"{head.env.get('PATH', '')}"}
        job_env = {"WSSS_HOME": str(home),
                   "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}
        submit = [str(Path(sys.executable).with_name("ray")), "job", "submit", "--address",
                  head.dashboard, "--working-dir", ".", "--runtime-env-json",
                  json.dumps({"env_vars": job_env}), "--",
                  "wsss", "study", "run", "drs-controller", "--samples", "2", "--profile",
                  "tiny", "--until", "cams", "--name", "job", f"data/root={tiny_root}",
                  "data/workers=0"]
        out = subprocess.run(submit, cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "succeeded" in out.stdout + out.stderr
        assert "job: complete (2/2 trials" in out.stdout + out.stderr
    finally:
        head.stop()
    assert not head.ours()  # the head's processes, and only they, are gone
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["job"], filter_string="tags.kind = 'trial'")
    assert len(runs) == 2 and set(runs.status) == {"FINISHED"}
    assert runs["metrics.cam/miou"].between(0, 1).all()
    assert (home / "studies" / "job.json").exists() and (home / "optuna.db").exists()
