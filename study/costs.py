"""What a study will cost, before it runs: ``wsss study plan`` (docs/cluster.md, "What a study
costs").

The study's trials are expanded into the stages they would compute, with the cache keys a
run would give them, so a stage two trials share (one pre-training, one classifier for
several thresholds) is counted once. Each stage's work is counted in units (``units``:
images through the network, times epochs, scales or flips) and divided by the stage's
throughput on the device type, from one table (``study/throughput.json``: measured rows, and
rows estimated from published FLOP rates, each saying which). The trials are then laid out
as a study runs them (``simulate``): so many at once, a trial's stages in order, a stage
another trial is computing waited for. Data loading is assumed to keep up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.spec import Capacity, StudySpec

TABLE = Path(__file__).with_name("throughput.json")
CPU = "cpu"  # a table device: one CPU (one torch thread, or one process of a pool)
# stages that run no network: pools of single-threaded processes on the stage's CPUs
CPU_STAGES = ("pseudo_labels", "crf_labels")
# the official VOC 2012 + SBD counts (data/ is not needed to plan a study)
VOC_SIZES = {"train_aug": 10582, "train": 1464, "val": 1449}


@dataclass(frozen=True)
class Rate:
    stage: str  # a stage, or "evaluate/crf" (evaluate's dense CRF, on CPUs)
    network: str  # the network it runs ("-" for none)
    device: str  # "cpu" or a GPU type ("A10G", "H100", ...)
    rate: float  # units per second on one device (one CPU for "cpu")
    source: str  # "measured: <command>, <date>, <machine>" or "estimate: <how>"


def load_table(path: Path | None = None) -> dict[tuple[str, str, str], Rate]:
    rows = json.loads(Path(path or TABLE).read_text())["rows"]
    table = {}
    for row in rows:
        rate = Rate(**row)
        table[(rate.stage, rate.network, rate.device)] = rate
    return table


def network(stage: str, cfg: Any) -> str:
    """What a stage's rate depends on, as the table names it: the network it runs (the
    architecture says the scale: ``narrow`` is the 64-px benchmark's, ``vgg16_d1`` VOC's);
    for the work on CPUs, what it computes and at which image scale (``-/64px``,
    ``largefov/voc``: the dense CRF of that recipe)."""
    if stage in CPU_STAGES:
        return f"-/{_scale(cfg)}"
    if stage == "evaluate/crf":
        return f"{cfg.evaluate.crf_recipe}/{_scale(cfg)}"
    if stage in ("segment", "evaluate"):
        return cfg.segment.arch
    if stage == "classifier" and cfg.classifier.ser_rate is not None:
        return f"{cfg.classifier.arch}+ser"  # two branches
    if stage == "cams":  # a pass at scale 2 costs 16 of one at 0.5: the recipe is the rate's
        scales = "/".join(f"{x:g}" for x in cfg.cams.scales)
        return f"{cfg.classifier.arch} scales {scales}{' flip' if cfg.cams.flip else ''}"
    return cfg.classifier.arch


def _scale(cfg: Any) -> str:
    from wsss.data.splits import SYNTHETIC_PROFILES
    from wsss.data.synthetic import PRESETS

    if cfg.profile in SYNTHETIC_PROFILES:
        return f"{PRESETS[cfg.profile].size}px"
    return "voc"


def split_sizes(cfg: Any) -> dict[str, int]:
    """Images per split: the dataset's own lists where they are readable here, else the
    profile's known sizes (the official VOC counts; the synthetic benchmark's presets)."""
    from wsss.data.splits import SYNTHETIC_PROFILES, open_layout
    from wsss.data.synthetic import PRESETS, test_size
    from wsss.data.voc import read_split_list

    try:
        layout = open_layout(cfg)
        sizes = {s: len(read_split_list(layout.list_path(s))) for s in layout.splits()}
        if sizes:
            return sizes
    except (OSError, ValueError, KeyError):
        pass
    if cfg.profile in SYNTHETIC_PROFILES:
        p = PRESETS[cfg.profile]
        return {"train_aug": p.n_train, "train": min(p.n_train_subset, p.n_train),
                "val": p.n_val, "test": test_size(p)}
    return dict(VOC_SIZES)


def units(stage: str, cfg: Any, n: Mapping[str, int]) -> dict[str, float]:
    """A stage's work, {part: units}: "" on its device, "crf" on CPUs (evaluate's CRF)."""
    d = cfg.data
    train = n.get(d.train_split, 0)
    maps = max(train, n.get(d.score_split, 0))  # maps of train_split, which holds score_split
    flips = 2 if cfg.cams.flip else 1
    if stage == "pretrain":
        return {"": cfg.pretrain.epochs * train if cfg.pretrain.source == "synthetic" else 0}
    if stage == "classifier":
        return {"": cfg.classifier.epochs * train}
    if stage == "cams":
        return {"": maps * len(cfg.cams.scales) * flips}
    if stage == "refine":
        return {"": cfg.refine.epochs * train}
    if stage == "affinity":
        return {"": cfg.affinity.epochs * train}
    if stage == "segment":
        return {"": cfg.segment.iterations * cfg.segment.batch_size}
    if stage == "evaluate":
        scored = n.get(d.select_split, 0) + (n.get(d.report_split, 0) if d.report_split else 0)
        return {"": scored * (2 if cfg.evaluate.flip else 1),
                **({"crf": scored} if cfg.evaluate.crf else {})}
    if stage == "crf_labels":
        return {"": train}  # the training split's confident regions
    return {"": maps}  # pseudo_labels, random_walk: each image once


@dataclass(frozen=True)
class Job:
    stage: str
    key: str
    seconds: float
    gpu: bool  # it holds the trial's GPU share while it runs


@dataclass
class Plan:
    wall: float  # seconds from the first trial's start to the last one's end
    gpu_hours: float  # GPU-hours held by network stages (GPU share x their seconds)
    stage_seconds: dict[str, float]  # computed seconds per stage (shared stages once)
    runs: dict[str, int]  # computations per stage
    trials: int
    at_once: int
    sources: dict[str, str] = field(default_factory=dict)  # stage -> its rate's source


def trial_configs(spec: StudySpec) -> list[Any]:
    """The resolved config of every trial: a grid's points, or a search's points as a
    seeded random sampler would propose them (a stand-in for TPE's, which depend on
    results)."""
    import optuna

    from search_spaces import SPACES
    from wsss import config

    points = spec.grid_points
    if points and spec.sampler in ("", "grid"):
        return [config.resolve({**spec.overrides, **p}) for p in points.values()]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.RandomSampler(seed=spec.seed)
    study = optuna.create_study(sampler=sampler, direction="maximize")
    out = []
    for _ in range(spec.num_samples):
        trial = study.ask()
        extra = (points[trial.suggest_categorical("choice/grid", list(points))] if points
                 else SPACES[spec.space](trial)) or {}
        chosen = {k: v for k, v in trial.params.items() if not k.startswith("choice/")}
        out.append(config.resolve({**spec.overrides, **chosen, **extra}))
        study.tell(trial, 0.0)
    return out


def jobs(cfg: Any, until: str, table: Mapping[tuple[str, str, str], Rate], device: str,
         cpus: float, n: Mapping[str, int], sources: dict[str, str]) -> list[Job]:
    """A trial's stages up to ``until`` with their keys (as ``run_pipeline`` makes them, the
    dataset fingerprint aside) and predicted seconds on ``device`` with ``cpus`` CPUs."""
    from wsss.cache import stage_key
    from wsss.pipeline import STAGES, key_fields, plan

    out, keys = [], {}
    for name, roles in plan(cfg):
        stage = STAGES[name]
        keys[name] = stage_key(name, key_fields(cfg, stage), {r: keys[s] for r, s in
                                                               roles.items()}, "plan",
                               stage.version)
        seconds = 0.0
        for part, work in units(name, cfg, n).items():
            if not work:
                continue
            what = "evaluate/crf" if part == "crf" else name
            on_cpus = what in CPU_STAGES or what == "evaluate/crf" or device == CPU
            row = table.get((what, network(what, cfg), CPU if on_cpus else device))
            if row is None:
                raise KeyError(f"study/throughput.json has no rate for {what} "
                               f"({network(what, cfg)}) on {CPU if on_cpus else device}; "
                               "measure it with benchmarks/gpu_throughput.py")
            sources[what] = row.source
            seconds += work / (row.rate * _speedup(what, cpus, device))
        out.append(Job(name, keys[name], seconds, stage.gpu and device != CPU))
        if name == until:
            break
    return out


def _speedup(stage: str, cpus: float, device: str) -> float:
    """How much faster than on one CPU: pools of processes (labels, CRFs) scale with their
    CPUs; a network on CPUs with the square root of its threads (two one-thread trials did
    1.36-1.45x the work of one two-thread trial: docs/performance.md, "Trials side by
    side"); on a GPU a rate is already the device's."""
    if stage in CPU_STAGES or stage == "evaluate/crf":
        return cpus
    return cpus ** 0.5 if device == CPU else 1.0


def simulate(trials: Sequence[Sequence[Job]], at_once: int) -> tuple[float, dict[str, float],
                                                                       dict[str, int], float]:
    """Lay the trials out on ``at_once`` lanes, in order: a lane takes the next trial when
    its last one ends; a stage whose key another trial computed (or is computing) costs
    nothing but the wait. Returns (wall, seconds per stage, runs per stage, GPU-seconds)."""
    lanes = [0.0] * max(1, at_once)
    done_at: dict[str, float] = {}  # key -> when its computation ends
    seconds: dict[str, float] = {}
    runs: dict[str, int] = {}
    gpu = 0.0
    for trial in trials:
        lane = min(range(len(lanes)), key=lanes.__getitem__)
        now = lanes[lane]
        for job in trial:
            if job.key in done_at:
                now = max(now, done_at[job.key])
                continue
            now += job.seconds
            done_at[job.key] = now
            seconds[job.stage] = seconds.get(job.stage, 0.0) + job.seconds
            runs[job.stage] = runs.get(job.stage, 0) + 1
            gpu += job.seconds if job.gpu else 0.0
        lanes[lane] = now
    return max(lanes), seconds, runs, gpu


def plan_study(spec: StudySpec, cap: Capacity, device: str,
               table: Mapping[tuple[str, str, str], Rate] | None = None,
               overhead: tuple[float, float] | None = None) -> Plan:
    """The study's predicted wall time and GPU-hours on a cluster of ``cap`` whose GPUs are
    ``device`` (``CPU`` when it has none). ``overhead``: (seconds per trial, seconds per
    computed stage) of starting trials and tasks and recording them (the table's
    ``overhead`` row by default)."""
    from wsss.pipeline import stage_of_metric

    table = table if table is not None else load_table()
    res = spec.resources(cap)
    if res.uses_gpus and device == CPU:
        raise ValueError("--gpu-type: the cluster has GPUs; name their type (a row of "
                         "study/throughput.json)")
    per_trial, per_stage = overhead if overhead is not None else _overhead(table, device)
    cpus = res.stage_cpus if res.uses_gpus else res.trial_cpus
    sources: dict[str, str] = {}
    trials = []
    for cfg in trial_configs(spec):
        until = spec.until or stage_of_metric(spec.objective).name
        js = jobs(cfg, until, table, device if res.uses_gpus else CPU, cpus,
                  split_sizes(cfg), sources)
        trials.append([Job("(start)", f"start-{len(trials)}", per_trial, False)] +
                      [Job(j.stage, j.key, j.seconds + per_stage, j.gpu) for j in js])
    wall, seconds, runs, gpu = simulate(trials, res.trials)
    seconds.pop("(start)", None)
    runs.pop("(start)", None)
    return Plan(wall=wall, gpu_hours=gpu * res.gpus_per_stage / 3600, stage_seconds=seconds,
                runs=runs, trials=len(trials), at_once=res.trials, sources=sources)


def _overhead(table: Mapping[tuple[str, str, str], Rate], device: str) -> tuple[float, float]:
    """The table's ``overhead`` rows: ``rate`` holds seconds per trial (network "trial") and
    per computed stage (network "stage")."""
    kind = CPU if device == CPU else "gpu"
    trial = table.get(("overhead", "trial", kind))
    stage = table.get(("overhead", "stage", kind))
    return (trial.rate if trial else 0.0, stage.rate if stage else 0.0)


def render(plan: Plan, spec: StudySpec, device: str, gpus: float) -> str:
    """The plan as `wsss study plan` prints it."""
    where = f"{gpus:g} x {device}" if device != CPU else "CPUs only"
    total = sum(plan.stage_seconds.values()) or 1.0
    lines = [f"plan of {spec.grid or spec.space} ({plan.trials} trials, "
             f"{plan.at_once} at once) on {where}:",
             f"  predicted wall time {_duration(plan.wall)}; "
             f"{plan.gpu_hours:.2f} GPU-hours held by network stages",
             f"  {'stage':<14}{'runs':>5}{'stage-hours':>13}{'share':>8}  rate from"]
    for stage, secs in sorted(plan.stage_seconds.items(), key=lambda kv: -kv[1]):
        source = plan.sources.get(stage, "").split(":")[0]  # measured / estimate
        lines.append(f"  {stage:<14}{plan.runs[stage]:>5}{secs / 3600:>13.3f}"
                     f"{100 * secs / total:>7.1f}%  {source}")
    lines.append("  (rates: study/throughput.json, each row saying what measured it or how it "
                 "was estimated; evaluate includes its dense CRF, on the stage's CPUs)")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 600:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"
