"""Rank agreement of stage metrics with the final metric, on constructed cases."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.proxies import kendall_tau_b, markdown, proxy_rows, spearman, top_k_holds_best


def test_rank_correlations_by_hand() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one swapped pair of 4: d^2 = 2, rho = 1 - 6*2 / (4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    # 6 pairs, 5 concordant, 1 discordant: tau = 4/6
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # ties: x = (1, 1, 2), y = (1, 2, 3): pairs 3, ties in x 1; concordant 2, so 2/sqrt(2*3)
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall_tau_b([1, 1, 1], [1, 2, 3]))


def test_top_k_holds_best() -> None:
    proxy, final = [0.9, 0.8, 0.7, 0.1], [0.5, 0.4, 0.3, 0.6]  # the best is the proxy's worst
    assert not top_k_holds_best(proxy, final, 1)
    assert not top_k_holds_best(proxy, final, 3)
    assert top_k_holds_best(proxy, final, 4)
    assert top_k_holds_best([0.5, 0.5, 0.1], [0.1, 0.9, 0.2], 1)  # a tie at the top is inside


def test_rows_orient_losses_and_skip_what_does_not_vary() -> None:
    df = pd.DataFrame({
        "metrics.pretrain/val/map": [0.5] * 4,  # shared by every configuration
        "metrics.cams/miou": [0.4, 0.5, 0.6, 0.7],
        "metrics.refine/miou": [0.5, None, None, 0.6],  # only some trials refine
        "metrics.segment/final_loss": [0.9, 0.7, 0.5, 0.3],  # lower is better
        "metrics.evaluate/miou_crf": [0.50, 0.55, 0.60, 0.65]})
    rows = {r.metric: r for r in proxy_rows(df)}
    assert set(rows) == {"cams/miou", "-segment/final_loss"}
    assert rows["cams/miou"].spearman == pytest.approx(1.0)
    assert rows["-segment/final_loss"].kendall == pytest.approx(1.0)
    assert rows["cams/miou"].top_k == {1: True, 3: True, 5: True} and rows["cams/miou"].n == 4
    text = markdown(list(rows.values()))
    assert "| cams/miou | 4 | +1.00 | +1.00 | yes | yes | yes |" in text
