"""Chaos: Ray worker processes of a running study are killed at random, then the driver too;
`wsss study resume` finishes it, and Ray, Optuna and MLflow each hold exactly the grid's
trials, none twice, every stage run logged once, and the cache verifies clean."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from ray.tune import ExperimentAnalysis

from search_spaces import GRIDS

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=100)]
REPO = Path(__file__).resolve().parents[2]
GRID = "drs1"  # 8 points


def _ray_workers(pgid: int) -> list[int]:
    """The study's trial processes (Tune's ``ImplicitFunc`` actors) started by its driver;
    Ray's own agents are left alone (the raylet exits when one of them dies)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            # a worker has its own process group; its parent, the raylet, is the driver's
            if cmd.startswith("ray::ImplicitFunc") and os.getpgid(parent) == pgid:
                out.append(int(proc.name))
        except (OSError, ProcessLookupError):
            continue
    return out


def _killer(pgid: int, stop: threading.Event, kills: list[int], most: int) -> None:
    rng = random.Random(0)
    while not stop.wait(4.0) and len(kills) < most:
        workers = _ray_workers(pgid)
        if workers:
            victim = rng.choice(workers)
            try:
                os.kill(victim, signal.SIGKILL)
                kills.append(victim)
            except ProcessLookupError:
                pass


def _reap_orphaned_trials() -> None:
    """Trial processes of the killed driver that outlived their raylet (parent now init):
    leave nothing behind for the tests that follow."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if proc.name.isdigit() and cmd.startswith("ray::") and parent == 1:
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def _finished(home: Path) -> int:
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    try:
        runs = mlflow.search_runs(experiment_names=["chaos"],
                                  filter_string="tags.kind = 'trial'")
    except Exception:  # noqa: BLE001 - the store may not exist yet
        return 0
    return int((runs.status == "FINISHED").sum()) if len(runs) else 0


def test_random_worker_kills_then_a_driver_kill_lose_and_repeat_nothing(
        tiny_root: Path, tmp_path: Path, study_env, kill_then_resume) -> None:
    home = tmp_path / "home"
    env = study_env(home)
    cmd = [sys.executable, "-m", "study.cli", "study", "run", "--grid", GRID, "--profile",
           "tiny", "--until", "pseudo_labels", "--name", "chaos", "--concurrency", "2",
           "--cpus-per-trial", "1",
           f"data/root={tiny_root}", "data/workers=0", "pseudo_labels/workers=1"]
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    stop, kills = threading.Event(), []
    killer = threading.Thread(target=_killer, args=(proc.pid, stop, kills, 3), daemon=True)
    killer.start()
    deadline = time.time() + 420
    while (len(kills) < 3 or _finished(home) < 3) and time.time() < deadline \
            and proc.poll() is None:
        time.sleep(1)
    stop.set()
    killer.join()
    assert kills, "no Ray worker was killed: " + (tmp_path / "run.log").read_text()[-2000:]
    kill_then_resume(proc, "chaos", env)
    points = set(GRIDS[GRID])
    # Ray: one terminated trial per grid point
    trials = ExperimentAnalysis(str(home / "ray_results" / "chaos")).trials
    assert len(trials) == len(points) and all(t.status == "TERMINATED" for t in trials)
    assert {t.config["choice"]["grid"] for t in trials} == points
    # Optuna: each point complete exactly once; anything else is a closed orphan
    ot = optuna.load_study(study_name="chaos", storage=f"sqlite:///{home / 'optuna.db'}").trials
    complete = [t for t in ot if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.params["choice/grid"] for t in complete) == sorted(points)
    assert all(t.state == optuna.trial.TrialState.FAIL for t in ot if t not in complete)
    # MLflow: one finished run per Ray trial, and each of its stages logged once
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["chaos"])
    finished = runs[(runs["tags.kind"] == "trial") & (runs.status == "FINISHED")]
    assert sorted(finished["tags.ray.trial_id"]) == sorted(t.trial_id for t in trials)
    assert sorted(finished["params.choice/grid"]) == sorted(points)
    stages = runs[(runs["tags.kind"] == "stage")
                  & runs["tags.ray.trial_id"].isin(finished["tags.ray.trial_id"])]
    per = stages.groupby(["tags.ray.trial_id", "tags.stage"]).size()
    assert set(per) == {1} and len(per) == 4 * len(points)  # pretrain..pseudo_labels, once
    _reap_orphaned_trials()
    verify = subprocess.run([sys.executable, "-m", "study.cli", "cache", "verify", "--cache",
                             str(home / "cache")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert verify.returncode == 0 and " 0 bad" in verify.stdout, verify.stdout
