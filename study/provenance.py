"""What produced a run: the code (git commit and whether the checkout had uncommitted changes,
or the package version outside a checkout) and the versions of the libraries that compute
and record it. Every study, trial and stage run carries these as ``wsss.*`` tags; the stage
runs add the dataset's content fingerprint, the device and, on CUDA, the GPU's name.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIBRARIES = ("torch", "torchvision", "ray", "optuna", "mlflow", "numpy")
COMMIT = "wsss.git_commit"


def code_version(repo: Path = REPO) -> dict[str, str]:
    """``wsss.git_commit`` and ``wsss.git_dirty`` in a git checkout, else ``wsss.version``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                text=True, timeout=30)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=repo, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        commit = None
    if commit is not None and commit.returncode == 0 and status.returncode == 0:
        return {COMMIT: commit.stdout.strip(), "wsss.git_dirty": str(bool(status.stdout.strip()))
                .lower()}
    return {"wsss.version": _version("wsss-study")}


def provenance(repo: Path = REPO) -> dict[str, str]:
    """The code's version and every library's (``wsss.torch``, ``wsss.ray``, ...)."""
    return {**code_version(repo), **{f"wsss.{lib}": _version(lib) for lib in LIBRARIES}}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
