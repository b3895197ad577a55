"""What a person sees: a study's MLflow runs page in headless Chromium, checked and captured.

    python -m study.browser_check STUDY [--out docs/img/mlflow-runs.png] [--chromium PATH]

Starts the MLflow UI for WSSS_HOME on 127.0.0.1 (a port the system picks; or uses the
tracking server of ``MLFLOW_TRACKING_URI``), opens the study's trials view
(``study.experiment.trials_url``) in headless Chromium (Debian's ``chromium`` package),
checks that every trial's name and the ``objective`` column are on the rendered page, then
the same view as charts (a chart per metric over the trials: ``-chart``) and a classifier
stage run's training curves (``-curves``), and saves a screenshot of each. Exit status 1
names what was missing. CI has no browser:
tests/study/test_study.py checks the same through MLflow's REST API.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from study.experiment import VIEW_TAG, trials_url
from study.spec import Home
from study.ui import Server, commands, serve, server_env

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def _wait(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the MLflow UI at {url} did not answer within {seconds:.0f} s")


def chromium(browser: str, url: str, *args: str, budget_ms: int = 20000) -> str:
    argv = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--window-size=1800,700", f"--virtual-time-budget={budget_ms}", *args, url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    return done.stdout


def check(study: str, out: Path, browser: str) -> list[str]:
    """What is missing from the rendered page ([] when all is there); saves ``out``."""
    import mlflow

    home = Home.default()
    mlflow.set_tracking_uri(home.tracking_uri)
    experiment = mlflow.get_experiment_by_name(study)
    if experiment is None:
        return [f"no study {study!r} in {home.tracking_uri}"]
    trials = mlflow.search_runs([experiment.experiment_id], filter_string="tags.kind = 'trial'")
    names = sorted(set(trials["tags.mlflow.runName"]))
    server: Server | None = None
    if home.tracking_uri.startswith(("http://", "https://")):
        base = home.tracking_uri.rstrip("/")
    else:
        _, argv = commands(home, "127.0.0.1", 0, 0)[0]
        server = serve("MLflow", argv, env=server_env())
        base = server.url
    stage = _trained_stage_run(experiment.experiment_id)
    shots = {out: "", _beside(out, "chart"): "", _beside(out, "curves"): ""}
    try:
        _wait(base)
        url = trials_url(base, experiment.experiment_id)
        pages = {out: url, _beside(out, "chart"): f"{url}&compareRunsMode=CHART"}
        if stage is not None:
            # the metric page: one curve, train/loss over steps (the run page's charts
            # render lazily, below the fold)
            query = {"runs": [stage], "metric": "train/loss",  # MLflow reads these as JSON
                     "experiments": [experiment.experiment_id],
                     "plot_metric_keys": ["train/loss"]}
            pages[_beside(out, "curves")] = f"{base}/#/metric?" + urlencode(
                {**{k: json.dumps(v) for k, v in query.items()}, "x_axis": "step"})
        out.parent.mkdir(parents=True, exist_ok=True)
        for shot, page in pages.items():
            shots[shot] = chromium(browser, page, "--dump-dom")
            chromium(browser, page, f"--screenshot={shot.resolve()}")
    finally:
        if server is not None:
            server.stop(10)
    dom, chart, curves = shots.values()
    missing = [] if VIEW_TAG in experiment.tags else [f"the experiment tag {VIEW_TAG}"]
    missing += [f"trial name {n!r}" for n in names if n not in dom]
    if 'col-id="metrics.`objective`"' not in dom:  # the column itself, not the word
        missing.append("the objective column")
    if "objective" not in chart:  # the chart view: one chart per metric over the trials
        missing.append("a chart of the objective over the trials")
    if stage is None:
        missing.append("a training stage run (classifier) with a curve")
    elif "train/loss" not in curves:
        missing.append("the training curve (train/loss) of a classifier stage run")
    missing += [f"the screenshot {p}" for p in shots if not p.exists() or not p.stat().st_size]
    return missing


def _beside(out: Path, what: str) -> Path:
    return out.with_name(f"{out.stem}-{what}{out.suffix}")


def _trained_stage_run(experiment_id: str) -> str | None:
    """A classifier stage run that trained (not a cache hit): the one whose curves to show."""
    import mlflow

    runs = mlflow.search_runs([experiment_id], filter_string="tags.kind = 'stage' and "
                              "tags.stage = 'classifier' and tags.cache_hit = 'false'")
    return None if runs.empty else str(runs.run_id.iloc[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study")
    parser.add_argument("--out", default="mlflow-runs.png", help="screenshot (PNG)")
    parser.add_argument("--chromium", help="the browser (default: chromium on PATH)")
    args = parser.parse_args(argv)
    browser = args.chromium or next((b for b in map(shutil.which, CHROMIUM) if b), None)
    if browser is None:
        print("error: no chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    missing = check(args.study, Path(args.out), browser)
    if missing:
        print("missing from the runs page: " + "; ".join(missing), file=sys.stderr)
        return 1
    print(f"runs page of {args.study}: every trial name and the objective column are shown, "
          f"the objective charted over the trials and a classifier's training curve; "
          f"screenshots {args.out} (-chart, -curves)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
