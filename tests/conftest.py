"""Shared fixtures: one tiny synthetic dataset per test session (read-only for tests), and a
guard that the test session leaves the repository's working tree as it found it.

The README's test command runs the tests in pytest-xdist workers, one per CPU: each worker
gets an equal share of the CPUs for its compute threads (set before torch is imported, and
inherited by its subprocesses); a worker that runs a `ray_session` test starts one Ray of its
own. Tests are handed out one at a time, longest first (``slow(seconds=...)``, the time one
took on this project's 2-core machine), so the longest ones do not start last
(docs/performance.md, "The test command").
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


def expected_seconds(item: pytest.Item) -> float:
    """A test's expected time: ``slow(seconds=...)`` where given, 10 for other slow tests,
    1 for the rest."""
    mark = item.get_closest_marker("slow")
    return 1.0 if mark is None else float(mark.kwargs.get("seconds", 10.0))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first (stable): ``--dist loadgroup`` hands tests out one at a time in this
    order, so the workers finish together instead of one starting a long test at the end."""
    items.sort(key=expected_seconds, reverse=True)
