"""A third method in a package of its own, joined as a new method joins: nothing else edited.

The toy method ("toy") lives in a temporary package: its ``Method`` (reusing the narrow
classifier, without DRS, and DRS's CAM chain up to the pseudo labels), its search space and
its table with one claim. ``WSSS_METHODS`` adds it to ``METHODS`` in every process (the
driver, the trials, the stage tasks), where an in-repository method has its line in
``wsss/methods/__init__.py``. A grid study, ``wsss tables`` and ``wsss reproduce --paper toy``
then work from the shell as they do for DRS and SSENet (docs/adding-a-method.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow(seconds=70)]

REPO = Path(__file__).resolve().parents[2]

METHOD = '''
from wsss.methods.base import Method


def weak_labels(cfg):
    return [("classifier", {"pretrain": "pretrain"}), ("cams", {"classifier": "classifier"}),
            ("pseudo_labels", {"maps": "cams"})], "pseudo_labels"


def classifier_step(model, device, c):
    from wsss.engine import classification_step

    return classification_step(model, device)


METHOD = Method(
    name="toy", paper="A toy method of the test suite", title="Toy",
    overlay={"classifier/drs": "none"}, presets={"reference": {}, "paper": {}}, profiles={},
    weak_labels=weak_labels, classifier_step=classifier_step, objective="pseudo_labels/miou",
    grids={"toy1": {"a20": {"pseudo_labels/alpha": 0.2}, "a30": {"pseudo_labels/alpha": 0.3}}},
    grid_until="pseudo_labels", tables=("toy1",), short_names={"pseudo_labels/alpha": "α"},
    space_module="toylab.spaces", table_module="toylab.tables",
)
'''

SPACES = '''
def alpha(trial):
    trial.suggest_float("pseudo_labels/alpha", 0.1, 0.4, step=0.1)
    return {}


SPACES = {"toy": alpha}
'''

TABLES = '''
from analysis.claims import Claim, cell, compare
from analysis.tables import Table, cells_by, col

PAPER = {0.2: 40.0, 0.3: 45.0}


def toy_table(df, metric):
    cells = cells_by(df, metric, col(df, "pseudo_labels/alpha").map(float))
    table = Table("toy1", "Toy Table 1: the object cue", f"Ours: {metric} (x100).",
                  ["α"], ["ours", "paper"])
    for a, paper in PAPER.items():
        table.rows.append(([f"α = {a:.1f}"], [cells.get(a, None), paper]))
    return table


def _higher_alpha(t):
    return compare(cell(t["toy1"], ["α = 0.3"]), cell(t["toy1"], ["α = 0.2"]), "α 0.3", "α 0.2")


TABLES = {"toy1": toy_table}
CLAIMS = (Claim("α = 0.3 beats α = 0.2", ("toy1",), _higher_alpha),)
'''


def _write_package(root: Path) -> Path:
    pkg = root / "toylab"
    pkg.mkdir(parents=True)
    for name, text in (("__init__", ""), ("method", METHOD), ("spaces", SPACES),
                       ("tables", TABLES)):
        (pkg / f"{name}.py").write_text(text.lstrip())
    return pkg


@pytest.mark.ray
def test_a_third_method_runs_a_grid_tables_and_reproduce(tiny_root, tmp_path, study_env) -> None:
    pkg = _write_package(tmp_path / "lab")
    env = {**study_env(tmp_path / "home"), "WSSS_METHODS": "toylab.method",
           "PYTHONPATH": os.pathsep.join([str(pkg.parent), str(REPO)])}
    data = [f"data/root={tiny_root}", "data/workers=0", "pseudo_labels/workers=1"]

    def wsss(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "study.cli", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=400)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    run = wsss("study", "run", "--grid", "toy1", "--profile", "tiny", "--name", "toy",
               "--concurrency", "1", *data)
    assert "2/2 done" in run or "complete" in run
    tables = wsss("tables", "toy")
    assert "Toy Table 1: the object cue" in tables
    assert "α = 0.3" in tables and "45.0" in tables  # the paper's column beside ours
    # reproduce: its own study of the grid, every stage a hit in the shared cache
    out = wsss("reproduce", "--paper", "toy", "--profile", "tiny", "--seeds", "0",
               "--name", "rep", "--concurrency", "1", *data)
    assert "| Toy | α = 0.3 beats α = 0.2 |" in out
    report = (tmp_path / "home" / "reproduce" / "rep")
    assert any(report.iterdir())
