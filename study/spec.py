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

from wsss.keys import RENAMED_STAGES, current_name

# a GPU study's trial only coordinates: it asks for each stage's result, and each stage is a
# task with resources of its own (docs/architecture.md, "Resources on a cluster"). Ray wants
# some resource for a trial; a hundredth of a CPU each keeps the GPU nodes' CPUs for stages
COORDINATOR_CPUS = 0.01
AUTO = -1.0  # ``gpus_per_stage``: one GPU per network stage where the cluster has GPUs


@dataclass(frozen=True)
class Capacity:
    """What a study sizes itself to (``study.resources.cluster_capacity`` reads it)."""

    cpus: float  # CPUs of the Ray cluster now
    gpus: float = 0.0  # GPUs it has, or may autoscale to
    node_cpus: float = 0.0  # the GPU node type with the fewest CPUs per GPU: its CPUs
    node_gpus: float = 0.0  # ... and its GPUs (0: no GPU node)


@dataclass(frozen=True)
class Resources:
    """How a study runs on its cluster."""

    trials: int  # at once
    trial_cpus: float  # CPU study: the trial's CPUs (it runs its stages); GPU: a coordinator's
    gpus_per_stage: float  # each network stage's GPUs; 0: no GPU, stages run in the trial
    # GPU study: every stage task's CPUs (loader workers, CRF pool, threads): a whole number,
    # or a fraction of one where a node has fewer CPUs than GPUs
    stage_cpus: float = 0

    @property
    def uses_gpus(self) -> bool:
        return self.gpus_per_stage > 0


@dataclass(frozen=True)
class StudySpec:
    name: str
    space: str = "drs"  # a search_spaces.SPACES name (ignored with a grid)
    grid: str = ""  # a search_spaces.GRIDS name: every point once
    # or the points themselves (name -> overrides), e.g. a search's best beside the paper's
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: int = 8
    objective: str = "pseudo_labels/miou"
    until: str = ""  # the last stage every trial runs ("" = the objective's stage)
    overrides: dict[str, Any] = field(default_factory=dict)  # flat config keys for all trials
    concurrency: int = 0  # trials at once; 0 = auto (resources())
    asha: bool = False  # stop weak trials at the rung stages (study.scheduler)
    rungs: list[str] = field(default_factory=list)  # rung stages ([] = the method's own)
    sampler: str = ""  # "" = grid for a grid, tpe for a space; or tpe / random
    budget: float = 0.0  # > 0: no new trial once this many stage-seconds are spent
    cpus_per_trial: float = 0  # no GPUs: a trial's CPUs; 0 = auto (resources())
    gpus_per_stage: float = AUTO  # each network stage's GPUs; 0 = CPU only; AUTO: 1 if any
    cpus_per_stage: float = 0  # with GPUs: each stage task's CPUs; 0 = auto (resources())
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

    def resources(self, cap: Capacity) -> Resources:
        """Trials at once and each one's resources on a cluster of ``cap``: what was given,
        or (0, AUTO) fitted to it. A flag that cannot apply is an error naming it.

        With GPUs (``gpus_per_stage`` > 0, or AUTO on a cluster that has or may start GPUs)
        a trial only coordinates (``COORDINATOR_CPUS``, no GPU); each stage is a Ray task
        holding its own resources while it runs: a network stage ``gpus_per_stage`` GPUs and
        ``stage_cpus`` CPUs (its GPU node's CPUs per GPU, less the coordinators' hundredths,
        rounded down to whole CPUs), a stage without a network the CPUs alone. As many trials
        run as the GPUs allow, for grids and searches alike (TPE's constant liar keeps
        parallel proposals apart: study.search).

        Without GPUs a trial runs its stages itself. A grid (every point run once) runs as
        many trials at once as there are CPUs and points, sharing the CPUs: two one-thread
        trials did 1.36-1.45x the work of one two-thread trial on 2 cores
        (docs/performance.md, "Trials side by side"); a search runs one trial at a time
        with every CPU, so its sampler proposes each point knowing every earlier result.
        """
        g = self.gpus_per_stage
        if g == AUTO:
            g = 1.0 if cap.gpus > 0 else 0.0
        elif g < 0:
            raise ValueError(f"--gpus-per-stage {g:g}: must be >= 0 (0: the CPU only)")
        if g > 0:
            return self._gpu_resources(g, cap)
        if self.cpus_per_stage > 0:
            raise ValueError(f"--cpus-per-stage {self.cpus_per_stage:g} applies to studies "
                             "with GPUs (their stages are tasks); without GPUs a trial runs "
                             "its stages itself: give it CPUs with --cpus-per-trial")
        cpus = max(1, int(cap.cpus))
        concurrency = self.concurrency
        if concurrency <= 0:
            whole_grid = bool(self.grid_points) and self.sampler in ("", "grid")
            concurrency = max(1, min(self.num_samples, cpus)) if whole_grid else 1
        per_trial = self.cpus_per_trial if self.cpus_per_trial > 0 \
            else float(max(1, cpus // concurrency))
        return Resources(concurrency, per_trial, 0.0)

    def _gpu_resources(self, g: float, cap: Capacity) -> Resources:
        if cap.gpus <= 0:
            raise ValueError(f"--gpus-per-stage {g:g}: the Ray cluster has no GPUs and can "
                             "start none (--gpus-per-stage 0 runs on the CPU)")
        if g > cap.node_gpus:
            raise ValueError(f"--gpus-per-stage {g:g}: no GPU node has that many (at most "
                             f"{cap.node_gpus:g} per node)")
        if self.cpus_per_trial > 0:
            raise ValueError(f"--cpus-per-trial {self.cpus_per_trial:g} applies to studies "
                             "without GPUs; with GPUs a trial only coordinates and its "
                             "stages are tasks: give them CPUs with --cpus-per-stage")
        trials = self.concurrency if self.concurrency > 0 else \
            max(1, min(self.num_samples, int(cap.gpus / g + 1e-9)))
        if self.cpus_per_stage > 0:
            stage_cpus: float = int(self.cpus_per_stage)
            if stage_cpus != self.cpus_per_stage or stage_cpus > cap.node_cpus:
                raise ValueError(f"--cpus-per-stage {self.cpus_per_stage:g}: a whole number "
                                 f"of CPUs, at most a GPU node's {cap.node_cpus:g}")
        else:  # the node's CPUs per GPU, less what every coordinator could take on it
            share = (cap.node_cpus - COORDINATOR_CPUS * trials) * g / cap.node_gpus
            stage_cpus = float(int(share)) if share >= 1 else round(share - 0.005, 2)
            if stage_cpus <= 0:
                raise ValueError(f"a GPU node's {cap.node_cpus:g} CPUs leave none for a stage "
                                 f"beside {trials} trials: --cpus-per-stage or --concurrency")
        return Resources(trials, COORDINATOR_CPUS, g, stage_cpus)

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
        saved = json.loads(path.read_text())
        # a study saved before names were unified, read under today's (wsss.keys.RENAMED)
        saved["objective"] = current_name(saved.get("objective", ""))
        saved["overrides"] = {current_name(k): v for k, v in saved.get("overrides", {}).items()}
        saved["points"] = {p: {current_name(k): v for k, v in over.items()}
                           for p, over in saved.get("points", {}).items()}
        saved["rungs"] = [RENAMED_STAGES.get(r, r) for r in saved.get("rungs", [])]
        saved["until"] = RENAMED_STAGES.get(saved.get("until", ""), saved.get("until", ""))
        return StudySpec(**saved)

    def save(self, spec: StudySpec) -> None:
        self.spec_path(spec.name).parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spec_path(spec.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(spec), indent=2) + "\n")
        tmp.replace(self.spec_path(spec.name))
