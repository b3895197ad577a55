"""`wsss ui`, the names trial runs get in MLflow, and a study's progress lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from search_spaces import GRIDS
from study.spec import Home
from study.ui import commands, serve, server_env
from trainables.tracking import run_name


def test_trial_runs_are_named_by_what_they_vary() -> None:
    names = {g: [run_name({**p, "choice/grid": k}) for k, p in GRIDS[g].items()] for g in GRIDS}
    for grid, labels in names.items():
        assert len(set(labels)) == len(labels), grid  # unique within the study
    assert names["drs1"][:2] == ["drs=learnable", "drs=constant δ=0.9"]
    assert "drs=learnable layers=5-6" in names["drs2"]
    assert "drs=constant δ=0.55 refine=on" in names["drs3"]
    assert names["sse1"][:2] == ["r=none", "r=0.6"]
    # a choice's label stands for the values it expands to (64-px scales read as the paper's)
    assert "r=0.5 scales=[448, 768]" in names["sse2-synthetic"]
    sampled = {"classifier/drs": "constant", "classifier/drs_delta": 0.55,
               "classifier/drs_layers": ("layer1", "layer3"), "pseudo_labels/alpha": 0.2}
    assert run_name(sampled) == "drs=constant δ=0.55 layers=1,3 α=0.2"


def test_ui_binds_to_localhost_and_defers_to_a_tracking_server(tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    local = commands(Home(tmp_path), "127.0.0.1", 0, 0)
    (name, argv), = [c for c in local if c[0] == "MLflow"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "0"
    assert f"sqlite:///{tmp_path / 'mlflow.db'}" in argv
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.0.0.10:5000")
    assert [c[0] for c in commands(Home(tmp_path), "127.0.0.1", 0, 0)] in (
        [], ["optuna-dashboard"])  # the server is the MLflow UI


@pytest.mark.slow(seconds=15)
def test_wsss_ui_serves_the_mlflow_ui_until_interrupted(tmp_path: Path) -> None:
    """On a port the system picks (0), read back from what `wsss ui` prints; after Ctrl-C
    no process of the UI's group is left (not merely a silent port: another test's server
    may take the same port)."""
    env = {**os.environ, "WSSS_HOME": str(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "study.cli", "ui", "--mlflow-port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        while first.startswith("optuna-dashboard"):
            first = proc.stdout.readline()
        assert first.startswith("MLflow: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        assert not url.endswith(":0")
        with urllib.request.urlopen(f"{url}/health", timeout=10) as r:  # up once printed
            assert r.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    deadline = time.time() + 30  # the UI's own server group, stopped by `wsss ui`
    while _group_alive(proc.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not _group_alive(proc.pid)


def test_serve_reads_the_port_a_server_bound_and_stops_its_group(tmp_path: Path) -> None:
    """``serve`` (what `wsss ui`, the browser check and the server tests use) on a stand-in
    server that binds port 0 and prints its address, as uvicorn does."""
    script = tmp_path / "server.py"
    script.write_text(
        "import http.server, subprocess, sys\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n"
        "print(f'Uvicorn running on http://127.0.0.1:{s.server_port} (Press CTRL+C)',"
        " flush=True)\n"
        "s.serve_forever()\n")
    server = serve("stand-in", [sys.executable, str(script)], cwd=tmp_path, env=server_env())
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
    with urllib.request.urlopen(server.url, timeout=10) as r:
        assert r.status == 200
    server.stop(10)
    assert not server.running()  # the server and the child it started
    with pytest.raises(OSError, match="stopped early"):  # no address printed: its last words
        serve("mute", [sys.executable, "-c", "print('stopped early')"], timeout=30)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class _Trial:
    def __init__(self, trial_id: str, status: str, config: dict) -> None:
        self.trial_id, self.status, self.config = trial_id, status, config


def test_study_progress_is_one_summary_line_per_event() -> None:
    """Counts by state (not yet asked-for trials are pending) and the best objective so far,
    named by what the trial varies; Tune pickles the callback with the study."""
    import pickle

    from study.progress import StudyProgress

    lines: list[str] = []
    progress = StudyProgress("drs1", "pseudo_labels/miou", 8)
    progress.out = lines.append
    a = _Trial("a", "RUNNING", {"classifier/drs": "learnable"})
    b = _Trial("b", "PENDING", {"classifier/drs": "constant", "classifier/drs_delta": 0.55})
    progress.on_trial_result(0, [a, b], a, {"stage": 1, "score": -0.3})
    assert lines[-1] == "[study drs1] 0/8 done, 1 running, 7 pending, 0 failed"
    progress.on_trial_result(0, [a, b], a, {"stage": 4, "pseudo_labels/miou": 0.71})
    a.status, b.status = "TERMINATED", "RUNNING"
    progress.on_trial_complete(0, [a, b], a)
    assert lines[-1] == ("[study drs1] 1/8 done, 1 running, 6 pending, 0 failed; "
                         "best pseudo_labels/miou 0.710 (drs=learnable)")
    progress.on_trial_result(0, [a, b], b, {"stage": 4, "pseudo_labels/miou": 0.774})
    b.status = "ERROR"
    progress.on_trial_error(0, [a, b], b)
    assert lines[-1] == ("[study drs1] 1/8 done, 0 running, 6 pending, 1 failed; "
                         "best pseudo_labels/miou 0.774 (drs=constant δ=0.55)")
    assert pickle.loads(pickle.dumps(StudyProgress("s", "random_walk/miou", 3))).samples == 3


def test_wsss_ui_links_each_study_to_its_saved_trials_view(tmp_path: Path, monkeypatch) -> None:
    import json

    import mlflow

    from study.experiment import VIEW_TAG, ensure_experiment, trials_view
    from study.spec import Home, StudySpec
    from study.ui import trial_views

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = Home(tmp_path)
    spec = StudySpec(name="g", grid="drs1", until="evaluate",
                     overrides={"method": "drs", "profile": "tiny"})
    experiment_id = ensure_experiment(home, "g", "a grid", trials_view(spec))
    mlflow.create_experiment("not-a-study")
    (link,) = trial_views(home, "http://127.0.0.1:5000")
    assert link == ("g", f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs"
                         "?viewStateShareKey=wsss-trials")
    view = json.loads(mlflow.get_experiment(experiment_id).tags[VIEW_TAG])
    assert view["searchFilter"] == "tags.kind = 'trial'" and view["orderByAsc"] is False
    assert view["orderByKey"] == "metrics.`objective`"
    columns = view["selectedColumns"]
    assert columns[0] == "metrics.`objective`" and "metrics.`evaluate/report/miou_crf`" in columns
    assert "params.`classifier/drs_delta`" in columns
    assert "metrics.`random_walk/miou`" not in columns
