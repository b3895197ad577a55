"""The papers' claims checked on constructed tables: each verdict follows from the cells."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import claims
from analysis.claims import FAILS, HOLDS, NOISE, UNMEASURED, compare
from analysis.drs import drs_table1, drs_table2, drs_table3
from analysis.ssenet import sse_table1
from analysis.tables import Cell

ALL = ("layer1", "layer2", "layer3", "layer4", "layer5", "layer6")


def test_compare_by_hand() -> None:
    assert compare(Cell([0.7]), Cell([0.6]), "a", "b").status == HOLDS
    assert compare(Cell([0.6]), Cell([0.7]), "a", "b").status == FAILS
    assert compare(Cell(), Cell([0.7]), "a", "b").status == UNMEASURED
    # means 0.71 and 0.70, each std 0.01414 over 2 seeds: SE 0.01414, 2 SE 0.028 > 0.01
    v = compare(Cell([0.70, 0.72]), Cell([0.69, 0.71]), "a", "b")
    assert v.status == NOISE and "+1.0" in v.evidence and "2 SE = 2.8" in v.evidence
    assert compare(Cell([0.80, 0.81]), Cell([0.69, 0.71]), "a", "b").status == HOLDS
    assert "n=1/1" in compare(Cell([0.7]), Cell([0.6]), "a", "b").evidence


def _drs_frame(rows: list[tuple[dict, float]]) -> pd.DataFrame:
    out = []
    for i, (params, value) in enumerate(rows):
        out.append({"run_id": str(i), "method": "drs", "classifier/drs_layers": ALL,
                    "refine/enabled": False, "seed": 0, **params,
                    "metrics.pseudo_labels/miou": value, "metrics.evaluate/miou_crf": value - 0.1})
    return pd.DataFrame(out)


def _tables(df: pd.DataFrame) -> dict[str, object]:
    return {"drs1": drs_table1(df, "pseudo_labels/miou"), "drs2": drs_table2(df,
                                                                             "pseudo_labels/miou"),
            "drs3": drs_table3(df, "pseudo_labels/miou")}


def test_drs_claims_read_the_final_metric_and_follow_the_cells() -> None:
    const = {"classifier/drs": "constant"}
    df = _drs_frame([
        ({**const, "classifier/drs_delta": 0.55}, 0.80),
        ({**const, "classifier/drs_delta": 0.9}, 0.60),
        ({**const, "classifier/drs_delta": 0.4}, 0.82),  # 0.4 beats 0.55 here
        ({"classifier/drs": "learnable"}, 0.78),
        ({"classifier/drs": "none"}, 0.70),
        ({"classifier/drs": "learnable", "classifier/drs_layers": ALL[1:]}, 0.77),
        ({"classifier/drs": "learnable", "classifier/drs_layers": ALL[:5]}, 0.72),
        ({"classifier/drs": "learnable", "refine/enabled": True}, 0.79),
        ({**const, "classifier/drs_delta": 0.55, "refine/enabled": True}, 0.79),  # worse
    ])
    tables = _tables(df)
    results = {c.text: v for _, c, v in claims.check(list(tables.values()), ["drs"])}
    beats_none = results["DRS at an intermediate δ (0.55) beats no DRS"]
    # on evaluate/miou_crf (value - 0.1): 70.0 vs 60.0
    assert beats_none.status == HOLDS and beats_none.evidence.startswith("δ 0.55 70.0 vs no")
    assert results["δ = 0.4 is worse than the best δ"].status == FAILS  # 0.4 beats 0.55, 0.9
    # "worst of all" needs every controller: δ 0.8-0.5 were not run
    assert results["weak suppression (δ = 0.9) is the worst controller"].status == UNMEASURED
    assert results["DRS in higher layers matters more than in lower ones"].status == HOLDS
    refine = results["refinement adds to both controllers"]
    assert refine.status == FAILS and "δ = 0.55 refined 69.0 vs δ = 0.55 unrefined 70.0" in (
        refine.evidence)
    assert claims.check(list(tables.values()), ["ssenet"]) == []  # no SSENet table built


def test_delta_04_against_the_best_other_delta() -> None:
    const = {"classifier/drs": "constant"}
    df = _drs_frame([({**const, "classifier/drs_delta": d}, v)
                     for d, v in ((0.55, 0.80), (0.6, 0.83), (0.4, 0.82), (0.9, 0.81),
                                  (0.8, 0.815), (0.7, 0.82), (0.5, 0.83))]
                    + [({"classifier/drs": "learnable"}, 0.84)])
    v = claims.check([drs_table1(df, "pseudo_labels/miou")], ["drs"])
    by_text = {c.text: r for _, c, r in v}
    verdict = by_text["δ = 0.4 is worse than the best δ"]
    assert verdict.status == HOLDS and verdict.evidence.startswith("best δ = 0.60 73.0 vs δ 0.40")
    worst = by_text["weak suppression (δ = 0.9) is the worst controller"]
    assert worst.status == FAILS and "δ 0.55 70.0 vs δ 0.90 71.0 (-1.0; n=1/1)" in worst.evidence


def test_ssenet_claims_with_seeds() -> None:
    rows = []
    for seed, jitter in ((0, 0.0), (1, 0.004)):
        for rate, cam, rw in ((None, 0.50, 0.60), (0.6, 0.52, 0.62), (0.5, 0.53, 0.63),
                              (0.4, 0.53, 0.635), (0.3, 0.54, 0.66), (0.2, 0.51, 0.64)):
            rows.append({"run_id": f"{seed}{rate}", "method": "ssenet", "seed": seed,
                         "classifier/ser_rate": rate, "metrics.cams/miou": cam + jitter,
                         "metrics.random_walk/miou": rw + jitter})
    table = sse_table1(pd.DataFrame(rows), "random_walk/miou")
    by_text = {c.text: v for _, c, v in claims.check([table], ["ssenet"])}
    assert by_text["SER beats the baseline at every r (CAM)"].status == HOLDS
    assert by_text["the random walk adds to every row"].status == HOLDS
    assert by_text["r = 0.3 is best (CAM + rw)"].status == HOLDS
    md = claims.markdown(claims.check([table], ["ssenet"]))
    assert md.count("\n") == 4 and "| SSENet | r = 0.3 is best (CAM + rw) | holds |" in md


@pytest.mark.parametrize("key", ["drs1", "drs2", "drs3"])
def test_claims_on_empty_tables_are_not_measured(key: str) -> None:
    tables = _tables(_drs_frame([]).reindex(columns=["method"]))
    for _, _, verdict in claims.check([tables[key]], ["drs"]):
        assert verdict.status == UNMEASURED
