"""One local Ray instance (2 CPUs) shared by every `ray` test of the session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}})
    yield ray
    ray.shutdown()


@pytest.fixture
def study_env():
    """The environment for a `wsss study` subprocess writing under ``home``: this process's,
    minus what would point the child elsewhere (``mlflow.set_tracking_uri`` exports
    ``MLFLOW_TRACKING_URI``, so an earlier test's store would otherwise leak into the child)."""
    import os

    def make(home) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
        return {**env, "WSSS_HOME": str(home), "PYTHONUNBUFFERED": "1"}

    return make
