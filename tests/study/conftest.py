"""One local Ray instance (2 CPUs) shared by every `ray` test of the session."""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}})
    yield ray
    ray.shutdown()


@pytest.fixture
def study_env():
    """The environment for a `wsss study` subprocess writing under ``home``: this process's,
    minus what would point the child elsewhere (``mlflow.set_tracking_uri`` exports
    ``MLFLOW_TRACKING_URI``, so an earlier test's store would otherwise leak into the child)."""

    def make(home) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
        return {**env, "WSSS_HOME": str(home), "PYTHONUNBUFFERED": "1"}

    return make


@pytest.fixture
def kill_then_resume():
    """SIGKILL a `wsss study run` started with ``start_new_session`` (the driver and the Ray
    it started), then `wsss study resume NAME`; returns the finished resume."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]

    def run(proc: subprocess.Popen, name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(2)
        resume = subprocess.run([sys.executable, "-m", "study.cli", "study", "resume", name],
                                cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        assert resume.returncode == 0, resume.stdout[-3000:] + resume.stderr[-3000:]
        return resume

    return run


@pytest.fixture(scope="session")
def local_ray():
    """tests/study/local_ray.py (a head of a test's own), also run by the scripts beside it."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("local_ray.py")
    spec = importlib.util.spec_from_file_location("wsss_tests_local_ray", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module
