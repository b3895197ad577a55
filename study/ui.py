"""`wsss ui`: the MLflow UI and optuna-dashboard for the project folder, on localhost.

Both bind to 127.0.0.1 unless ``--host`` says otherwise (anything else is the user's choice,
printed as such). With ``MLFLOW_TRACKING_URI`` pointing at an ``mlflow server`` the server
already is the UI: its address is printed and no second one is started. optuna-dashboard
is an optional extra (``pip install -e '.[ui]'``); without it only MLflow starts.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from study.spec import Home


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` if nothing listens there, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port on {host}")


def commands(home: Home, host: str, mlflow_port: int,
             optuna_port: int) -> list[tuple[str, list[str], str]]:
    """(what, argv, address) of each UI to start for ``home``."""
    out = []
    if not home.tracking_uri.startswith(("http://", "https://")):
        out.append(("MLflow", [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               home.tracking_uri, "--host", host, "--port", str(mlflow_port)],
                    f"http://{host}:{mlflow_port}"))
    dashboard = shutil.which("optuna-dashboard")
    if dashboard and (home.root / "optuna.db").exists():
        out.append(("optuna-dashboard", [dashboard, home.optuna_url, "--host", host,
                                         "--port", str(optuna_port)],
                    f"http://{host}:{optuna_port}"))
    return out


def trial_views(home: Home, ui_url: str, last: int = 10) -> list[tuple[str, str]]:
    """(study, link to its trials view) for the newest ``last`` studies MLflow knows."""
    import mlflow

    from study.experiment import VIEW_TAG, trials_url

    uri = home.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return []  # no study yet, and no store to create here
    mlflow.set_tracking_uri(home.tracking_uri)
    try:
        experiments = mlflow.search_experiments(order_by=["creation_time DESC"],
                                                max_results=last)
    except Exception:  # noqa: BLE001 - the links are a convenience, the UI still starts
        return []
    return [(e.name, trials_url(ui_url, e.experiment_id)) for e in experiments
            if VIEW_TAG in e.tags]


def ui(args: argparse.Namespace) -> int:
    home = Home.default()
    if home.tracking_uri.startswith(("http://", "https://")):
        print(f"MLflow: {home.tracking_uri} (the tracking server is the UI)")
    if not shutil.which("optuna-dashboard"):
        print("optuna-dashboard: not installed (pip install -e '.[ui]')")
    if args.host != "127.0.0.1":
        print(f"warning: binding to {args.host}, reachable beyond this machine")
    todo = commands(home, args.host, free_port(args.mlflow_port, args.host),
                    free_port(args.optuna_port, args.host))
    ui_url = home.tracking_uri if home.tracking_uri.startswith("http") else next(
        (url for name, _, url in todo if name == "MLflow"), "")
    # before the UI starts: both would create a new store's tables at once otherwise
    links = trial_views(home, ui_url) if ui_url else []
    procs = [(name, subprocess.Popen(argv), url) for name, argv, url in todo]
    for name, _, url in procs:
        print(f"{name}: {url}", flush=True)
    for study, link in links:
        print(f"  {study}: {link}", flush=True)
    if not procs:
        return 0
    try:
        while all(p.poll() is None for _, p, _ in procs):
            time.sleep(0.5)
        failed = [name for name, p, _ in procs if p.poll() not in (None, 0)]
        if failed:
            print(f"error: {', '.join(failed)} stopped", file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for _, p, _ in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("ui", help="MLflow UI and optuna-dashboard for WSSS_HOME on localhost")
    cmd.add_argument("--host", default="127.0.0.1", help="interface to bind (default: "
                     "localhost only)")
    cmd.add_argument("--mlflow-port", type=int, default=5000)
    cmd.add_argument("--optuna-port", type=int, default=8081)
    cmd.set_defaults(func=ui)
