"""What benchmarks share: the machine's load printed beside a figure, and running a study
they read (resumed if interrupted, reused if finished)."""

from __future__ import annotations

import os


def load() -> str:
    """The 1-, 5- and 15-minute load averages, e.g. ``load 0.41 0.52 0.60``."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def run_or_resume(name: str, run_args: list[str], finished: tuple[str, ...] = ("complete",)
                  ) -> int:
    """``wsss study run RUN_ARGS --name NAME`` unless the study exists: then resumed while its
    status is not in ``finished``, else reused. Returns the exit code."""
    from study.cli import main as wsss
    from study.spec import Home

    home = Home.default()
    if not home.spec_path(name).exists():
        return wsss(["study", "run", *run_args, "--name", name])
    if home.load(name).status not in finished:
        return wsss(["study", "resume", name])
    return 0
