"""Kill the study driver mid-study; `wsss study resume` finishes it with no lost and no
duplicated trials in Tune, Optuna or MLflow. Optuna here keeps its journal file
(``WSSS_OPTUNA_STORAGE=journal:...``, the store the cluster files use on their shared disk);
the chaos test resumes with the default SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from ray.tune import ExperimentAnalysis

from study.stores import open_optuna

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=70)]
REPO = Path(__file__).resolve().parents[2]


def _finished_trials(exp: Path) -> int:
    done = 0
    for result in exp.glob("*/result.json"):
        lines = result.read_text().splitlines()
        done += any(json.loads(line).get("stage") == 4 for line in lines if line.strip())
    return done


def test_killed_driver_then_resume(tiny_root: Path, tmp_path: Path, study_env,
                                  kill_then_resume) -> None:
    journal = tmp_path / "shared" / "optuna.journal"
    env = {**study_env(tmp_path / "home"), "WSSS_OPTUNA_STORAGE": f"journal:{journal}"}
    cmd = [sys.executable, "-m", "study.cli", "study", "run", "drs-controller", "--samples", "3",
           "--profile", "tiny", "--name", "killed", "--cpus-per-trial", "2",
           f"data/root={tiny_root}", "data/workers=0", "pseudo_labels/workers=1"]
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    exp = tmp_path / "home" / "ray_results" / "killed"
    deadline = time.time() + 400
    while _finished_trials(exp) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(1)
    assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
    resume = kill_then_resume(proc, "killed", env)
    assert "killed: complete (3/3 trials" in resume.stdout
    trials = ExperimentAnalysis(str(exp)).trials
    assert len(trials) == 3 and all(t.status == "TERMINATED" for t in trials)
    assert journal.exists() and not (tmp_path / "home" / "optuna.db").exists()
    ot = optuna.load_study(study_name="killed", storage=open_optuna(f"journal:{journal}")).trials
    complete = [t for t in ot if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3  # one per Tune trial, none twice
    assert sorted(t.value for t in complete) == pytest.approx(
        sorted(t.last_result["score"] for t in trials))
    # a trial the dead driver had asked Optuna for, but Tune never recorded, is closed as such
    others = [t for t in ot if t.state != optuna.trial.TrialState.COMPLETE]
    assert len(others) <= 1 and all(t.state == optuna.trial.TrialState.FAIL
                                    and "wsss:orphan" in t.system_attrs for t in others)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["killed"], filter_string="tags.kind = 'trial'")
    finished = runs[runs.status == "FINISHED"]
    assert sorted(finished["tags.ray.trial_id"]) == sorted(t.trial_id for t in trials)
    orphans = runs[runs.status != "FINISHED"]  # started by the dead driver, never snapshotted
    assert len(orphans) <= 1 and set(orphans.status) <= {"KILLED"}
    assert all(orphans["tags.orphan"] == "true") if len(orphans) else True
