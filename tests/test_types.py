"""The library type-checks: a typo in a config field (``cfg.classifer.lr``) fails here, not
hours into a study. mypy reads its settings from pyproject.toml ([tool.mypy]: ``wsss/``,
third-party packages followed silently); its cache lives under WSSS_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow(seconds=25)  # a cold cache (CI) checks every module and torch's stubs
def test_wsss_type_checks() -> None:
    home = Path(os.environ.get("WSSS_HOME", REPO / ".wsss"))
    env = {**os.environ, "MYPY_CACHE_DIR": str(home / "mypy-cache")}
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout
