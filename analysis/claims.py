"""The papers' qualitative ablation claims, checked on our tables (never written by hand).

Each claim compares cells of the rebuilt tables (``analysis.drs``, ``analysis.ssenet``) on
the column closest to the paper's own number: DRS's final mIoU + CRF when the trials reached
it (else the final mIoU, else the table's first column), SSENet's CAM or CAM + random walk.
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

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analysis.tables import Cell, Table

HOLDS, FAILS, NOISE, UNMEASURED = "holds", "does not hold", "within noise", "not measured"
# DRS: the paper's metric, best first (held-out reporting split before the selection split)
FINAL_COLUMNS = ("(seg/report/miou_crf)", "(seg/report/miou)", "(seg/miou_crf)", "(seg/miou)")


@dataclass(frozen=True)
class Verdict:
    status: str
    evidence: str


@dataclass(frozen=True)
class Claim:
    paper: str  # "drs" or "ssenet"
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


def _cell(t: Table, row: Sequence[str], column: int | None = None) -> Cell:
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


def _best(t: Table, rows: Sequence[Sequence[str]]) -> tuple[Sequence[str], Cell] | None:
    measured = [(r, _cell(t, r)) for r in rows if _cell(t, r).n]
    return max(measured, key=lambda rc: rc[1].mean) if measured else None


# --- DRS (Kim, Han & Kim, AAAI 2021, "Ablation study") --------------------------------------
DELTAS = [[f"δ = {d:.2f}"] for d in (0.90, 0.80, 0.70, 0.60, 0.55, 0.50, 0.40)]
NO_DRS, ALL_DRS = ["-"] * 6, ["✓"] * 6


def _drs_beats_none(t: dict[str, Table]) -> Verdict:
    return compare(_cell(t["drs1"], ["δ = 0.55"]), _cell(t["drs2"], NO_DRS), "δ 0.55", "no DRS")


def _delta_04_worse(t: dict[str, Table]) -> Verdict:
    best = _best(t["drs1"], DELTAS[:-1])
    if best is None:
        return Verdict(UNMEASURED, "no δ above 0.4 measured")
    return compare(best[1], _cell(t["drs1"], DELTAS[-1]), f"best {best[0][0]}", "δ 0.40")


def _delta_09_worst(t: dict[str, Table]) -> Verdict:
    weak = _cell(t["drs1"], DELTAS[0])
    return all_of([compare(_cell(t["drs1"], r), weak, r[0].replace("δ = ", "δ "), "δ 0.90")
                   for r in [["learnable"], *DELTAS[1:]]])


def _higher_layers_matter(t: dict[str, Table]) -> Verdict:
    # dropping DRS from the top layer costs more than dropping it from the bottom one
    return compare(_cell(t["drs2"], ["-"] + ["✓"] * 5), _cell(t["drs2"], ["✓"] * 5 + ["-"]),
                   "layers 2-6", "layers 1-5")


def _refinement_adds(t: dict[str, Table]) -> Verdict:
    return all_of([compare(_cell(t["drs3"], [c, "with"]), _cell(t["drs3"], [c, "without"]),
                           f"{c} refined", f"{c} unrefined")
                   for c in ("learnable", "δ = 0.55")])


# --- SSENet (Table 1 and its text) ---------------------------------------------------------
RATES = [[f"SSENet ({r})"] for r in ("0.6", "0.5", "0.4", "0.3", "0.2")]


def _ser_beats_baseline(t: dict[str, Table]) -> Verdict:
    base = _cell(t["sse1"], ["Baseline"], 0)
    return all_of([compare(_cell(t["sse1"], r, 0), base, r[0], "baseline") for r in RATES])


def _rw_adds(t: dict[str, Table]) -> Verdict:
    return all_of([compare(_cell(t["sse1"], r, 1), _cell(t["sse1"], r, 0), f"{r[0]} +rw",
                           f"{r[0]} CAM") for r in [["Baseline"], *RATES]])


def _rate_03_best(t: dict[str, Table]) -> Verdict:
    best = _cell(t["sse1"], ["SSENet (0.3)"], 1)
    return all_of([compare(best, _cell(t["sse1"], r, 1), "r 0.3", r[0]) for r in RATES
                   if r != ["SSENet (0.3)"]])


CLAIMS: tuple[Claim, ...] = (
    Claim("drs", "DRS at an intermediate δ (0.55) beats no DRS", ("drs1", "drs2"),
          _drs_beats_none),
    Claim("drs", "δ = 0.4 is worse than the best δ", ("drs1",), _delta_04_worse),
    Claim("drs", "weak suppression (δ = 0.9) is the worst controller", ("drs1",),
          _delta_09_worst),
    Claim("drs", "DRS in higher layers matters more than in lower ones", ("drs2",),
          _higher_layers_matter),
    Claim("drs", "refinement adds to both controllers", ("drs3",), _refinement_adds),
    Claim("ssenet", "SER beats the baseline at every r (CAM)", ("sse1",), _ser_beats_baseline),
    Claim("ssenet", "the random walk adds to every row", ("sse1",), _rw_adds),
    Claim("ssenet", "r = 0.3 is best (CAM + rw)", ("sse1",), _rate_03_best),
)


def check(tables: Sequence[Table], papers: Sequence[str]) -> list[tuple[Claim, Verdict]]:
    """Every claim of ``papers`` whose tables were built, with its verdict."""
    by_key = {t.key: t for t in tables}
    return [(c, c.check(by_key)) for c in CLAIMS
            if c.paper in papers and all(k in by_key for k in c.tables)]


def markdown(results: Sequence[tuple[Claim, Verdict]]) -> str:
    lines = ["| paper | claim | verdict | evidence (×100) |", "|---|---|---|---|"]
    lines += [f"| {c.paper.upper() if c.paper == 'drs' else 'SSENet'} | {c.text} | "
              f"{v.status} | {v.evidence} |" for c, v in results]
    return "\n".join(lines)
