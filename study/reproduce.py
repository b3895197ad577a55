"""`wsss reproduce`: the papers' ablation tables and claims from one command.

Runs, for every seed, one study per grid the paper's tables need (its ``Method.tables``: DRS
``drs1``, ``drs2``, ``drs3``; SSENet ``sse1`` and ``sse2``, ``sse2-synthetic`` on a synthetic
profile), all
sharing the stage cache, so a point two grids hold (Table 2's learnable row is Table 1's)
is computed once. A study of that name that already finished is reused and an interrupted
one resumed, so rerunning the command after a stop only computes what is missing; one made by
another resolved configuration or stage code version is left alone and the study runs again
as ``<name>-vN``. The tables
are then built from all those studies' trials together (a cell averages the seeds of one
setting, ``analysis.tables.cells_by``) and written with the claims section
(``analysis.claims``) under ``WSSS_HOME/reproduce/<name>/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from study.spec import Home, StudySpec
from wsss.methods import METHODS


def _spec(name: str, grid: str, seed: int, args: argparse.Namespace,
          home: Home) -> tuple[StudySpec, bool]:
    """The study of one (grid, seed), and whether it exists already (to reuse or resume).

    An existing study is taken only if it was made by the same resolved configuration and
    stage code versions (``signature``); otherwise the next free ``<name>-vN`` is used, so a
    study run before a code or default change is never passed off as a current one."""
    from search_spaces import method_of
    from study.commands import _check_until, _ensure_data, resource_fields, trial_overrides
    from wsss import config
    from wsss.cache import StageCache
    from wsss.pipeline import dataset_key

    method = method_of(grid)
    overrides = trial_overrides(method.name, args.profile, args.preset,
                                {**config.parse_overrides(args.overrides), "seed": seed})
    _check_until(config.resolve(overrides), method.objective, method.grid_until)
    _ensure_data(overrides)  # the signature reads the dataset's content, not its path
    fingerprint = dataset_key(config.resolve(overrides), StageCache(home.cache))[1]
    fresh = StudySpec(name=name, grid=grid, objective=method.objective,
                      until=method.grid_until, overrides=overrides,
                      seed=seed, **resource_fields(args),
                      created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                      signature=signature(overrides, grid, method.objective,
                                          method.grid_until, fingerprint))
    for k in itertools.count(1):
        study = name if k == 1 else f"{name}-v{k}"
        if not home.spec_path(study).exists():
            return dataclasses.replace(fresh, name=study), False
        old = home.load(study)
        if old.signature == fresh.signature:
            return old, True
        print(f"[{study}] made by another configuration or code version: not reused")
    raise AssertionError("unreachable")


def signature(overrides: dict[str, Any], grid: str, objective: str, until: str,
              fingerprint: str) -> str:
    """Digest of what a study computes: its grid, objective and last stage, the resolved
    base configuration without the keys that change only speed or location (so a rerun from
    another folder, or with the data elsewhere, is the same study), the dataset's content
    fingerprint and every stage's code version."""
    from wsss import config
    from wsss.pipeline import STAGES

    outside = config.outside_key_fields()
    flat = {k: v for k, v in config.flatten(config.resolve(overrides)).items()
            if k not in outside}
    what = {"config": flat, "stages": {n: s.version for n, s in STAGES.items()},
            "grid": grid, "objective": objective, "until": until, "data": fingerprint}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def reproduce(args: argparse.Namespace) -> int:
    from study.commands import _init_ray, sized
    from study.runner import launch

    home = Home.default()
    _split_seeds(args)
    papers = [m for m in METHODS if METHODS[m].tables] if args.paper == "all" else [args.paper]
    name = args.name or f"reproduce-{args.paper}-{args.profile}"
    studies, timings, start = [], [], time.perf_counter()
    for paper in papers:
        for grid in METHODS[paper].table_grids(args.profile):
            for seed in args.seeds:
                spec, known = _spec(f"{name}-{grid}-s{seed}", grid, seed, args, home)
                study = spec.name
                studies.append(study)
                if known and spec.status == "complete":
                    print(f"[{study}] complete: reused")
                    continue
                _init_ray(home)  # the data was made and checked by _spec
                spec, res = sized(spec)
                home.save(spec)
                began = time.perf_counter()
                summary = launch(spec, home, resume=known, res=res)
                timings.append((study, time.perf_counter() - began, summary["status"]))
                print(f"[{study}] {summary['status']}: {summary['trials']}/{spec.num_samples} "
                      f"trials in {timings[-1][1]:.0f} s", flush=True)
    out = write_report(name, papers, studies, home, timings, time.perf_counter() - start)
    print(out.read_text())
    print(f"\ntables, figures and report: {out.parent}")
    return 0 if all(status == "complete" for _, _, status in timings) else 1


def _split_seeds(args: argparse.Namespace) -> None:
    """``--seeds 0 1 data/root=X``: argparse hands the overrides to ``--seeds``."""
    from wsss.config import ConfigError

    items = [str(s) for s in args.seeds]
    args.overrides = [*[s for s in items if "=" in s], *args.overrides]
    try:
        args.seeds = [int(s) for s in items if "=" not in s]
    except ValueError as err:
        raise ConfigError(f"--seeds: {err}") from None
    if not args.seeds:
        raise ConfigError("--seeds: at least one seed")


def write_report(name: str, papers: list[str], studies: list[str], home: Home,
                 timings: list[tuple[str, float, str]], seconds: float) -> Path:
    """Tables over all the studies' trials, their figures, and the claims, under
    ``WSSS_HOME/reproduce/<name>``."""
    import pandas as pd

    from analysis import claims, importance, report
    from analysis.runs import StudyNotFound, load_trials, mixed_commits
    from analysis.tables import builders

    frames = []
    for study in studies:
        try:
            frames.append(load_trials(study, home.tracking_uri))
        except StudyNotFound:
            pass
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"method": []})
    mixed = mixed_commits(df)
    if mixed:
        print(mixed, file=sys.stderr)
    tables = [builders()[key](df, METHODS[paper].objective)
              for paper in papers for key in METHODS[paper].tables]
    verdicts = claims.check(tables, papers)
    lines = [f"Studies ({len(studies)}, one per grid and seed): {', '.join(studies)}.",
             f"Wall time of this command: {seconds:.0f} s "
             f"(load average at the end {_load()}).", ""]
    lines += [f"- `{s}`: {status} in {t:.0f} s" for s, t, status in timings]
    lines += ["", f"**{mixed}**"] if mixed else []
    lines += ["", _splits_line(df), "", "## Claims", "",
              "Each of the papers' qualitative claims, checked on our tables "
              "(docs in `analysis/claims.py`: within noise = at most 2 standard errors "
              "apart with >= 2 seeds; a single seed has no spread).", "",
              claims.markdown(verdicts), ""]
    out = home.root / "reproduce" / name
    out.mkdir(parents=True, exist_ok=True)
    mattered: list[str] = []
    for paper in papers:  # over all of a paper's trials: every setting its grids vary
        trials = df[df["method"].map(str) == paper] if "method" in df else df.iloc[:0]
        section = importance.section(trials.reset_index(drop=True), METHODS[paper].objective,
                                     out, png=f"parallel-{paper}.png")
        mattered += [f"## What mattered: {paper}", "", *section, ""] if section else []
    return report.write_tables(f"Reproduction `{name}`", tables, out, preamble=lines,
                               epilogue=mattered)


def _splits_line(df: Any) -> str:
    """Which split selection may read and which one the final columns report."""
    from analysis.tables import split_names

    def named(key: str) -> str:
        return split_names(df, key) or "none"

    held, select = named("data/report_split"), named("data/select_split")
    return (f"Splits: pseudo-label mIoU on {named('data/score_split')} (as both papers do); "
            f"final mIoU selected on {select} (`evaluate/...`, what an objective may read) and "
            f"reported on {held} (`evaluate/report/...`, held out, never selected on). A grid "
            "runs every point once, so nothing in these tables was selected on any split.")


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def add_parser(sub: argparse._SubParsersAction) -> None:
    from study.commands import add_resource_flags

    cmd = sub.add_parser("reproduce", help="run the grids of a paper's tables and write the "
                         "tables with the paper's claims checked")
    papers = [m for m in METHODS if METHODS[m].tables]
    cmd.add_argument("--paper", default="drs", choices=[*papers, "all"],
                     help=f"whose tables: {', '.join(papers)} or all")
    cmd.add_argument("--profile", default="quick", help="dataset scale: quick, tiny, full, voc")
    cmd.add_argument("--preset", default="reference", help="reference (authors' code) or paper")
    cmd.add_argument("--seeds", nargs="+", default=["0"], help="config seeds (key=value items "
                     "after them are overrides)")
    cmd.add_argument("--name", help="prefix of the studies (default: reproduce-PAPER-PROFILE)")
    add_resource_flags(cmd)
    cmd.add_argument("overrides", nargs="*", help="key=value for every trial")
    cmd.set_defaults(func=reproduce)
