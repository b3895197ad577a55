"""`wsss ui`: the MLflow UI and optuna-dashboard for the project folder, on localhost.

Both bind to 127.0.0.1 unless ``--host`` says otherwise (anything else is the user's choice,
printed as such). With ``MLFLOW_TRACKING_URI`` pointing at an ``mlflow server`` the server
already is the UI: its address is printed and no second one is started. optuna-dashboard
is an optional extra (``pip install -e '.[ui]'``); without it only MLflow starts.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from study.spec import Home
from study.stores import exists as store_exists

# a server's own line naming where it listens: uvicorn's "Uvicorn running on http://h:p",
# study.dashboard's "Listening on http://h:p/"
_ADDRESS = re.compile(r"(?:running on|Listening on) (https?://[^\s/]+:(\d+))")


def free_port(preferred: int, host: str = "127.0.0.1") -> int:
    """``preferred`` if nothing listens there, else any free port (for a person's ``wsss
    ui``; tests and tools pass 0 and read the bound port back from the server: ``serve``)."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port on {host}")


@dataclass
class Server:
    """A server process started by ``serve``, in a process group of its own."""

    name: str
    proc: subprocess.Popen
    url: str  # where it really listens (its own port when asked for port 0)

    def running(self) -> bool:
        """Whether any process of its group is still alive."""
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to its whole group, SIGKILL after ``timeout``; returns once it is gone."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
            deadline = time.monotonic() + timeout  # its children leave with it
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.1)
            if not self.running():
                break


def serve(name: str, argv: list[str], *, env: dict[str, str] | None = None,
          cwd: str | Path | None = None, timeout: float = 120.0,
          echo: Callable[[str], None] | None = None) -> Server:
    """Start ``argv`` (a server that may be asked for port 0) in a session of its own and
    wait until its output names the address it listens on. Its output keeps being read
    (passed to ``echo``) so it never blocks on a full pipe. Raises ``OSError`` with its last
    lines if it stops or stays silent for ``timeout`` seconds."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    tail: collections.deque[str] = collections.deque(maxlen=20)
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            tail.append(line.rstrip())
            if echo is not None:
                echo(line)
            match = _ADDRESS.search(line)
            if match and not found and match.group(2) != "0":
                found.append(match.group(1))
                ready.set()
        ready.set()  # the output ended: the server stopped

    threading.Thread(target=read, daemon=True, name=f"{name}-output").start()
    ready.wait(timeout)
    if not found:
        Server(name, proc, "").stop(5)
        raise OSError(f"{name} did not start ({' '.join(argv[:4])} ...): "
                      + " | ".join(tail))
    return Server(name, proc, found[0])


def commands(home: Home, host: str, mlflow_port: int,
             optuna_port: int) -> list[tuple[str, list[str]]]:
    """(what, argv) of each UI to start for ``home`` (port 0: any free port)."""
    out = []
    if not home.tracking_uri.startswith(("http://", "https://")):
        # one worker, no GenAI job runner: 14 s and 0.5 GB instead of 42 s and 2.6 GB
        # to start (docs/performance.md, "The MLflow UI")
        out.append(("MLflow", [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
                               home.tracking_uri, "--host", host, "--port", str(mlflow_port),
                               "--workers", "1"]))
    if _has_dashboard() and store_exists(home.optuna_url):
        out.append(("optuna-dashboard", [sys.executable, "-m", "study.dashboard",
                                         home.optuna_url, "--host", host,
                                         "--port", str(optuna_port)]))
    return out


def server_env() -> dict[str, str]:
    """The environment of a UI server: MLflow's GenAI job runner off (its huey consumers)."""
    return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _has_dashboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("optuna_dashboard") is not None


def viewed_studies(home: Home, last: int = 10) -> list[tuple[str, str]]:
    """(study, experiment id) of the newest ``last`` studies MLflow knows with a trials view."""
    import mlflow

    from study.experiment import VIEW_TAG

    uri = home.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return []  # no study yet, and no store to create here
    mlflow.set_tracking_uri(home.tracking_uri)
    try:
        experiments = mlflow.search_experiments(order_by=["creation_time DESC"],
                                                max_results=last)
    except Exception:  # noqa: BLE001 - the links are a convenience, the UI still starts
        return []
    return [(e.name, e.experiment_id) for e in experiments if VIEW_TAG in e.tags]


def trial_views(home: Home, ui_url: str, last: int = 10) -> list[tuple[str, str]]:
    """(study, link to its trials view) for the newest ``last`` studies MLflow knows."""
    from study.experiment import trials_url

    return [(name, trials_url(ui_url, eid)) for name, eid in viewed_studies(home, last)]


def ui(args: argparse.Namespace) -> int:
    from study.experiment import trials_url

    home = Home.default()
    if home.tracking_uri.startswith(("http://", "https://")):
        print(f"MLflow: {home.tracking_uri} (the tracking server is the UI)")
    if not _has_dashboard():
        print("optuna-dashboard: not installed (pip install -e '.[ui]')")
    if args.host != "127.0.0.1":
        print(f"warning: binding to {args.host}, reachable beyond this machine")
    todo = commands(home, args.host, free_port(args.mlflow_port, args.host) if args.mlflow_port
                    else 0, free_port(args.optuna_port, args.host) if args.optuna_port else 0)
    # before the UI starts: both would create a new store's tables at once otherwise
    studies = viewed_studies(home)
    servers: list[Server] = []
    try:
        for name, argv in todo:
            servers.append(serve(name, argv, env=server_env(), echo=sys.stderr.write))
            print(f"{name}: {servers[-1].url}", flush=True)
        ui_url = home.tracking_uri if home.tracking_uri.startswith("http") else next(
            (s.url for s in servers if s.name == "MLflow"), "")
        for study, experiment_id in studies if ui_url else []:
            print(f"  {study}: {trials_url(ui_url, experiment_id)}", flush=True)
        if not servers:
            return 0
        while all(s.proc.poll() is None for s in servers):
            time.sleep(0.5)
        failed = [s.name for s in servers if s.proc.poll() not in (None, 0)]
        if failed:
            print(f"error: {', '.join(failed)} stopped", file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for s in servers:
            s.stop(10)


def add_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("ui", help="MLflow UI and optuna-dashboard for WSSS_HOME on localhost")
    cmd.add_argument("--host", default="127.0.0.1", help="interface to bind (default: "
                     "localhost only)")
    cmd.add_argument("--mlflow-port", type=int, default=5000,
                     help="the MLflow UI's port (taken: any free one; 0: any free one)")
    cmd.add_argument("--optuna-port", type=int, default=8081,
                     help="optuna-dashboard's port (taken: any free one; 0: any free one)")
    cmd.set_defaults(func=ui)
