"""Search's best against the paper's setting: paired by seed, verdicts on constructed values."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.confirm import compare, markdown, verdict


def _df(values: dict[tuple[str, int], float]) -> pd.DataFrame:
    return pd.DataFrame([{"choice/grid": p, "seed": s, "metrics.evaluate/report/miou_crf": v}
                         for (p, s), v in values.items()])


def test_differences_are_paired_by_seed_and_only_seeds_both_have_count() -> None:
    df = _df({("search", 0): 0.70, ("search", 1): 0.74, ("search", 2): 0.72,
              ("paper", 0): 0.68, ("paper", 1): 0.71, ("paper", 3): 0.90})
    c = compare(df, "evaluate/report/miou_crf")
    assert c.seeds == (0, 1) and c.ours == (0.70, 0.74) and c.paper == (0.68, 0.71)
    assert c.differences == pytest.approx((0.02, 0.03))
    table = markdown([c])
    # means 72.0 and 69.5, paired difference +2.5 with sd of (2, 3) = 0.7
    assert "| 72.0 ± 2.8 | 69.5 ± 2.1 | +2.5 ± 0.7 | 2 |" in table
    assert "s0: 70.0 / 68.0; s1: 74.0 / 71.0" in table


def test_verdict_needs_a_difference_beyond_two_standard_errors() -> None:
    steady = compare(_df({("search", s): 0.70 + 0.01 * s for s in range(3)}
                         | {("paper", s): 0.65 + 0.01 * s for s in range(3)}),
                     "evaluate/report/miou_crf")
    assert verdict(steady).startswith("search's best beats the paper's setting by 5.0")
    noisy = compare(_df({("search", 0): 0.70, ("search", 1): 0.60, ("search", 2): 0.72,
                         ("paper", 0): 0.66, ("paper", 1): 0.68, ("paper", 2): 0.67}),
                    "evaluate/report/miou_crf")
    assert verdict(noisy).startswith("within noise")
    worse = compare(_df({("search", s): 0.60 + 0.001 * s for s in range(3)}
                        | {("paper", s): 0.65 for s in range(3)}), "evaluate/report/miou_crf")
    assert verdict(worse).startswith("search's best is worse than")
    one = compare(_df({("search", 0): 0.7, ("paper", 0): 0.6}), "evaluate/report/miou_crf")
    assert "no spread" in verdict(one)
    assert "| 70.0 | 60.0 | +10.0 | 1 |" in markdown([one])


def test_a_missing_metric_or_no_common_seed_is_an_error() -> None:
    df = _df({("search", 0): 0.7, ("paper", 1): 0.6})
    with pytest.raises(ValueError, match="no seed has both"):
        compare(df, "evaluate/report/miou_crf")
    with pytest.raises(KeyError, match="evaluate/miou"):
        compare(df, "evaluate/miou")
