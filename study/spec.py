"""A study's description (``StudySpec``) and the project folder it lives in (``Home``).

Everything a study writes lives under one project folder (``WSSS_HOME``, default ``./.wsss``,
always absolute): ``mlflow.db`` and ``mlartifacts/``, ``optuna.db``, ``ray_results/<study>``,
``cache/`` and ``studies/<study>.json`` (the study's spec and status). On a cluster,
``MLFLOW_TRACKING_URI`` points at the head's ``mlflow server`` (which keeps the artifacts)
and ``WSSS_HOME`` at shared storage.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StudySpec:
    name: str
    space: str = "drs"  # a search_spaces.SPACES name (ignored with a grid)
    grid: str = ""  # a search_spaces.GRIDS name: every point once
    # or the points themselves (name -> overrides), e.g. a search's best beside the paper's
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: int = 8
    objective: str = "pseudo/miou"
    until: str = ""  # the last stage every trial runs ("" = the objective's stage)
    overrides: dict[str, Any] = field(default_factory=dict)  # flat config keys for all trials
    concurrency: int = 0  # trials at once; 0 = auto (parallelism())
    asha: bool = False  # stop weak trials at the rung stages (study.scheduler)
    rungs: list[str] = field(default_factory=list)  # rung stages ([] = the method's own)
    sampler: str = ""  # "" = grid for a grid, tpe for a space; or tpe / random
    budget: float = 0.0  # > 0: no new trial once this many stage-seconds are spent
    cpus_per_trial: float = 0  # 0 = auto (parallelism())
    gpus_per_stage: float = 0.0  # > 0: training stages run as Ray tasks on GPU nodes
    max_failures: int = 2
    seed: int = 0
    status: str = "created"  # created -> running -> complete | budget | incomplete
    created: str = ""
    signature: str = ""  # wsss reproduce: resolved config + stage versions (reuse only if equal)

    @property
    def grid_points(self) -> dict[str, dict[str, Any]]:
        """The named points a grid study runs ({} for a search space)."""
        from search_spaces import GRIDS

        return dict(self.points) if self.points else dict(GRIDS[self.grid]) if self.grid else {}

    def parallelism(self, cpus: int, cuda: bool) -> tuple[int, float]:
        """(trials at once, CPUs per trial), each as given or, where 0, fitted to the
        ``cpus`` of the Ray cluster the study starts (or resumes) on, ``cuda`` if it uses GPUs.

        A grid (every point run once) on a machine without GPUs runs as many trials at once
        as there are CPUs and points, sharing the CPUs: two one-thread trials did 1.36-1.45x
        the work of one two-thread trial on 2 cores (docs/performance.md, "Trials side by
        side"), and a grid's points do not wait on each other's results. A search runs one trial at
        a time with every CPU, so its sampler proposes each point knowing every earlier
        result; so does anything using GPUs.
        """
        concurrency = self.concurrency
        if concurrency <= 0:
            whole_grid = bool(self.grid_points) and self.sampler in ("", "grid")
            concurrency = max(1, min(self.num_samples, cpus)) if whole_grid and not cuda else 1
        per_trial = self.cpus_per_trial if self.cpus_per_trial > 0 \
            else float(max(1, cpus // concurrency))
        return concurrency, per_trial

    @property
    def num_samples(self) -> int:
        return len(self.grid_points) if self.grid_points and self.sampler in ("", "grid") \
            else self.samples


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def default(cls) -> Home:
        return cls(Path(os.environ.get("WSSS_HOME", ".wsss")).expanduser().resolve())

    @property
    def tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def optuna_url(self) -> str:
        """``WSSS_OPTUNA_STORAGE`` (an RDB URL or ``journal:PATH``, study.stores), else
        SQLite in this folder."""
        return os.environ.get("WSSS_OPTUNA_STORAGE") or f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def results(self) -> Path:
        return self.root / "ray_results"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def artifact_location(self, experiment: str) -> str | None:
        """Where a new experiment keeps its artifacts: under this folder when tracking is a
        local store (never the working directory's ``./mlruns``); a tracking server keeps
        its own (None)."""
        if self.tracking_uri.startswith(("sqlite:", "file:", "/")):
            return (self.root / "mlartifacts" / experiment).as_uri()
        return None

    def spec_path(self, name: str) -> Path:
        return self.root / "studies" / f"{name}.json"

    def load(self, name: str) -> StudySpec:
        path = self.spec_path(name)
        if not path.exists():
            known = sorted(p.stem for p in (self.root / "studies").glob("*.json"))
            raise KeyError(f"no study named {name!r} under {self.root}; known: {known}")
        return StudySpec(**json.loads(path.read_text()))

    def save(self, spec: StudySpec) -> None:
        self.spec_path(spec.name).parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spec_path(spec.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(spec), indent=2) + "\n")
        tmp.replace(self.spec_path(spec.name))
