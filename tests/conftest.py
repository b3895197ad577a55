"""Shared fixtures: one tiny synthetic dataset per test session (read-only for tests), and a
guard that the test session leaves the repository's working tree as it found it.

The README's test command runs the tests in pytest-xdist workers, one per CPU: each worker
gets an equal share of the CPUs for its compute threads (set before torch is imported, and
inherited by its subprocesses), and every test that starts Ray runs in one worker, so a
session still has one Ray instance (docs/performance.md, "Trials side by side").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # before torch: its thread pool reads it
    os.environ["OMP_NUM_THREADS"] = str(max(
        1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

import pytest  # noqa: E402

from wsss.data.synthetic import generate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _git_status() -> str | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


@pytest.fixture(scope="session", autouse=True)
def working_tree_unchanged():
    """Everything a test generates goes to a temp dir or WSSS_HOME, never into the clone
    (MLflow's ./mlruns included): fails the session if `git status` changed."""
    before = _git_status()
    yield
    after = _git_status()
    if before is not None and after is not None:
        assert after == before, f"the tests changed the working tree:\n{after}"


@pytest.fixture(autouse=True)
def mlflow_store_restored():
    """``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``; a test's store must
    not become the next test's (or its subprocesses') default."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(before)  # None also unsets the variable
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `tiny` preset, generated once; tests that modify data copy it first."""
    root = tmp_path_factory.mktemp("synth") / "tiny"
    generate(root, "tiny", seed=0)
    return root


@pytest.fixture
def tiny_copy(tiny_root: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the tiny dataset."""
    dst = tmp_path / "tiny"
    shutil.copytree(tiny_root, dst)
    return dst


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``: the Ray tests share one worker (and one Ray instance)."""
    for item in items:
        if item.get_closest_marker("ray") or "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))
