"""Shared fixtures: one tiny synthetic dataset per test session (read-only for tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wsss.data.synthetic import generate


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

