"""A study against a real `mlflow server` (as on a cluster's head): records and artifacts
land on the server's side, nothing in the client's working directory, and `wsss tables`
rebuilds the same tables from the server."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import pytest

import search_spaces
from study.cli import main
from study.ui import serve, server_env
from wsss.methods import METHODS

pytestmark = [pytest.mark.ray, pytest.mark.slow(seconds=25)]

POINTS = {"learnable": {"classifier/drs": "learnable"},
          "delta=0.55": {"classifier/drs": "constant", "classifier/drs_delta": 0.55}}


class _Server:
    """`mlflow server` on 127.0.0.1 (port 0: the port it binds is read back), sqlite store,
    local artifact destination; ``restart`` stops it and serves the same store anew."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.server = self._start()

    def _start(self):
        return serve("mlflow server", [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
            f"sqlite:///{self.store / 'mlflow.db'}", "--artifacts-destination",
            str(self.store / "artifacts"), "--host", "127.0.0.1", "--port", "0",
            "--workers", "1"], cwd=self.store, env=server_env())

    @property
    def url(self) -> str:
        return self.server.url

    def restart(self) -> str:
        self.stop()
        self.server = self._start()
        return self.url

    def stop(self) -> None:
        self.server.stop(30)
        assert not self.server.running()  # its whole process group is gone


@pytest.fixture
def mlflow_server(tmp_path: Path):
    (tmp_path / "server").mkdir()
    server = _Server(tmp_path / "server")
    yield server
    server.stop()


def test_a_study_records_everything_on_the_server(ray_session, mlflow_server, tiny_root: Path,
                                                  tmp_path: Path, monkeypatch, capsys) -> None:
    url, store = mlflow_server.url, mlflow_server.store
    client_dir, home = tmp_path / "client", tmp_path / "home"
    client_dir.mkdir()
    monkeypatch.chdir(client_dir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("WSSS_HOME", str(home))
    monkeypatch.setitem(search_spaces.GRIDS, "srv", POINTS)
    monkeypatch.setitem(search_spaces.METHOD_OF, "srv", METHODS["drs"])
    assert main(["study", "run", "--grid", "srv", "--until", "pseudo_labels", "--profile",
                 "tiny", "--name", "srv", "--cpus-per-trial", "1", f"data/root={tiny_root}",
                 "data/workers=0", "pseudo_labels/workers=1"]) == 0
    printed = capsys.readouterr().out
    mlflow.set_tracking_uri(url)
    client = mlflow.MlflowClient(url)
    experiment = client.get_experiment_by_name("srv")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server keeps them
    runs = mlflow.search_runs([experiment.experiment_id])
    trials, stages = runs[runs["tags.kind"] == "trial"], runs[runs["tags.kind"] == "stage"]
    assert sorted(trials["tags.mlflow.runName"]) == ["drs=constant δ=0.55", "drs=learnable"]
    assert trials["metrics.pseudo_labels/miou"].between(0, 1).all()
    assert len(stages) == 2 * 4 and set(runs.status) == {"FINISHED"}
    # artifacts on the server's side: every stage's config.yaml, the study's tables
    cams = stages[stages["tags.stage"] == "cams"].run_id.iloc[0]
    assert {a.path for a in client.list_artifacts(cams, "cams")} >= {"cams/config.yaml",
                                                                    "cams/overlay.png"}
    study = runs[runs["tags.kind"] == "study"].run_id.iloc[0]
    tables = {a.path for a in client.list_artifacts(study, "tables")}
    assert "tables/drs1.md" in tables and "tables/report.md" in tables
    served = {p.name for p in (store / "artifacts").rglob("*") if p.is_file()}
    assert {"config.yaml", "overlay.png", "drs1.md"} <= served
    # nothing on the client's side: no ./mlruns, no local store or artifacts
    assert list(client_dir.iterdir()) == []
    assert not (home / "mlflow.db").exists() and not (home / "mlartifacts").exists()
    # `wsss tables` rebuilds the same table from the server
    assert main(["tables", "srv", "--table", "drs1"]) == 0
    rebuilt = capsys.readouterr().out
    rows = [ln for ln in rebuilt.splitlines() if ln.startswith("| learnable")
            or ln.startswith("| δ = 0.55")]
    assert len(rows) == 2 and all(r in printed for r in rows)
    # the best trial's network (it stopped at pseudo labels: its classifier), registered
    assert main(["export", "srv", str(tmp_path / "best"), "--register", "srv-best"]) == 0
    assert "exported its last trained network, `classifier`" in capsys.readouterr().out
    (version,) = client.search_model_versions("name = 'srv-best'")
    assert version.version == "1" and version.run_id  # a version, logged by an export run
    assert client.get_run(version.run_id).data.tags["kind"] == "export"
    # records that outlive the cluster: a new server on the same store (as a laptop runs one
    # on the cluster's database after `ray down`), a fresh client folder, the same tables
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    monkeypatch.chdir(laptop)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.restart())
    monkeypatch.setenv("WSSS_HOME", str(laptop / "home"))
    assert main(["tables", "srv", "--table", "drs1"]) == 0
    again = capsys.readouterr().out
    assert all(r in again for r in rows)
