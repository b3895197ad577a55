"""The papers' qualitative ablation claims, checked on our tables (never written by hand).

A method's claims live beside its tables (``CLAIMS`` of its ``Method.table_module``:
``analysis.drs``, ``analysis.ssenet``); this module holds what they share. Each claim
compares cells of the rebuilt tables on the column closest to the paper's own number: DRS's
final mIoU + CRF when the trials reached it (else the final mIoU, else the table's first
column), SSENet's CAM or CAM + random walk.
A comparison of two cells is

* ``not measured`` when either cell has no trial;
* ``within noise`` when both have >= 2 seeds and the difference of means is at most twice its
  standard error (sqrt(s_a^2 / n_a + s_b^2 / n_b));
* otherwise ``holds`` or ``does not hold`` by the sign of the difference; a cell with one seed
  has no spread, and the evidence says so (``n=1``).

A claim over several comparisons holds when all hold, does not hold when any does not, and
is within noise (or not measured) otherwise.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analysis.tables import Cell, Table
from wsss.methods import METHODS

HOLDS, FAILS, NOISE, UNMEASURED = "holds", "does not hold", "within noise", "not measured"
# DRS: the paper's metric, best first (held-out reporting split before the selection split)
FINAL_COLUMNS = ("(evaluate/report/miou_crf)", "(evaluate/report/miou)", "(evaluate/miou_crf)",
                 "(evaluate/miou)")


@dataclass(frozen=True)
class Verdict:
    status: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    text: str  # the claim as the paper's ablation text makes it
    tables: tuple[str, ...]  # the table keys it reads
    check: Callable[[dict[str, Table]], Verdict]


def _column(t: Table) -> int:
    """The column closest to the paper's metric (DRS: final mIoU + CRF when present)."""
    for suffix in FINAL_COLUMNS:
        for j, name in enumerate(t.columns[:t.paper_column]):
            if name.endswith(suffix):
                return j
    return 0


def cell(t: Table, row: Sequence[str], column: int | None = None) -> Cell:
    for labels, cells in t.rows:
        if list(labels) == list(row):
            c = cells[_column(t) if column is None else column]
            return c if isinstance(c, Cell) else Cell()
    raise KeyError(f"{t.key}: no row {row}")


def _text(c: Cell, scale: float) -> str:
    return f"{c.mean * scale:.1f}" + (f" ± {c.std * scale:.1f}" if c.n > 1 else "")


def compare(a: Cell, b: Cell, name_a: str, name_b: str, scale: float = 100.0) -> Verdict:
    """Does ``a`` beat ``b``?"""
    if not a.n or not b.n:
        return Verdict(UNMEASURED, f"{name_a} n={a.n}, {name_b} n={b.n}")
    diff = a.mean - b.mean
    evidence = (f"{name_a} {_text(a, scale)} vs {name_b} {_text(b, scale)} "
                f"({diff * scale:+.1f}; n={a.n}/{b.n})")
    if a.n > 1 and b.n > 1:
        se = math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n)
        if abs(diff) <= 2 * se:
            return Verdict(NOISE, evidence + f", 2 SE = {2 * se * scale:.1f}")
    return Verdict(HOLDS if diff > 0 else FAILS, evidence)


def all_of(verdicts: Sequence[Verdict]) -> Verdict:
    statuses = {v.status for v in verdicts}
    status = (FAILS if FAILS in statuses else HOLDS if statuses == {HOLDS} else
              NOISE if NOISE in statuses else UNMEASURED)
    return Verdict(status, "; ".join(v.evidence for v in verdicts))


def best(t: Table, rows: Sequence[Sequence[str]]) -> tuple[Sequence[str], Cell] | None:
    measured = [(r, cell(t, r)) for r in rows if cell(t, r).n]
    return max(measured, key=lambda rc: rc[1].mean) if measured else None


def check(tables: Sequence[Table], papers: Sequence[str]) -> list[tuple[str, Claim, Verdict]]:
    """Every claim of ``papers`` (method names) whose tables were built: (method, claim,
    verdict)."""
    by_key = {t.key: t for t in tables}
    return [(paper, c, c.check(by_key)) for paper in papers for c in claims_of(paper)
            if all(k in by_key for k in c.tables)]


def claims_of(method: str) -> tuple[Claim, ...]:
    """A method's claims, from its table module (none declared: none)."""
    module = importlib.import_module(METHODS[method].table_module)
    return tuple(getattr(module, "CLAIMS", ()))


def markdown(results: Sequence[tuple[str, Claim, Verdict]]) -> str:
    lines = ["| paper | claim | verdict | evidence (×100) |", "|---|---|---|---|"]
    lines += [f"| {METHODS[m].title} | {c.text} | {v.status} | {v.evidence} |"
              for m, c, v in results]
    return "\n".join(lines)
