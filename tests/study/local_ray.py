"""A Ray head of a test's own (`ray start --head`), started on ports the system picks and ended
by killing only its own processes: Ray's helpers run `ray stop --force`, which would end every
Ray on the machine (the test session's, a user's study).

Ray 2.60 heads use token authentication: each head gets a fresh token in the environment it
and its clients share (a fresh machine has no ~/.ray/auth_token, and `ray start` makes none).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def token_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with a new Ray token, and no other
    Ray address or token to confuse the clients."""
    # OMP_NUM_THREADS (the test workers' CPU share) is Ray's to set for its workers; with it
    # set to 1 in the head's environment, the head's job agent never became available
    env = {k: v for k, v in (base or os.environ).items()
           if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN_PATH", "OMP_NUM_THREADS")}
    return {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def processes() -> dict[int, tuple[int, str]]:
    """Live processes, pid -> (parent pid, command line), from Linux /proc (no psutil). A
    zombie (gone, not yet reaped) holds no port and no memory: left out."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError, IndexError):
            continue
        if state != "Z":
            out[int(entry.name)] = (int(parent), cmd)
    return out


def descendants(procs: dict[int, tuple[int, str]], roots: set[int]) -> set[int]:
    """``roots`` and every process below them."""
    found, grew = set(roots), True
    while grew:
        more = {pid for pid, (parent, _) in procs.items() if parent in found} - found
        found |= more
        grew = bool(more)
    return found


@dataclass
class Head:
    gcs: str  # "ip:port" of its GCS
    temp: str  # its temp folder (short: socket paths have a length limit)
    env: dict[str, str]  # the environment its clients use (the token)
    dashboard: str = ""  # "http://127.0.0.1:port" when started with one
    log: list[str] = field(default_factory=list)

    def ours(self) -> list[int]:
        """Pids of this cluster's processes: those whose command lines name its GCS address
        or temp folder, and their descendants (the agents rename themselves
        ``ray::DashboardAgent``; one left behind keeps its port)."""
        procs = processes()
        found = {pid for pid, (_, cmd) in procs.items()
                 if pid != os.getpid() and (self.gcs in cmd or self.temp in cmd)}
        return sorted(descendants(procs, found))

    def stop(self) -> None:
        for pid in set(self.ours()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not os.environ.get("WSSS_KEEP_RAY_TEMP"):  # for a post-mortem
            shutil.rmtree(self.temp, ignore_errors=True)


def start_head(*args: str, env: dict[str, str] | None = None, dashboard: bool = False) -> Head:
    """`ray start --head --port=0` (+ ``args``), its dashboard on 127.0.0.1 at a port of its
    choosing if asked; the addresses read back from what `ray start` prints."""
    env = env or token_env()
    temp = tempfile.mkdtemp(prefix="/tmp/wsss-rh-")
    ray_cli = str(Path(sys.executable).with_name("ray"))
    cmd = [ray_cli, "start", "--head", "--port=0", f"--temp-dir={temp}",
           "--disable-usage-stats", "--dashboard-agent-listen-port=0", *args]
    cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1", "--dashboard-port=0"] \
        if dashboard else ["--include-dashboard=false"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    gcs = re.search(r"ray start --address='([^']+)'", text)
    if out.returncode != 0 or gcs is None:
        shutil.rmtree(temp, ignore_errors=True)
        raise RuntimeError(f"ray start failed ({out.returncode}): {text[-3000:]}")
    head = Head(gcs.group(1), temp, env, log=text.splitlines())
    if dashboard:
        # "view the dashboard at" then, on the next line, the address (among colour codes)
        url = re.search(r"dashboard at\s[^\n]*\n?[^\n]*?(127\.0\.0\.1:\d+)", text)
        if url is None:
            head.stop()
            raise RuntimeError(f"no dashboard address in `ray start`'s output: {text[-3000:]}")
        head.dashboard = f"http://{url.group(1)}"
    return head
