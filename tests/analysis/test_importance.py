"""What mattered: importances on constructed trials, and the report's figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import importance


def _trials(n: int = 12) -> pd.DataFrame:
    """δ decides pseudo_labels/miou; α is noise on top; evaluate/miou follows pseudo_labels/miou."""
    rng = np.random.default_rng(0)
    deltas = [0.4, 0.55, 0.9] * (n // 3)
    alphas = [0.2, 0.3] * (n // 2)
    rng.shuffle(alphas)
    quality = {0.4: 0.60, 0.55: 0.72, 0.9: 0.45}
    pseudo = [quality[d] + rng.normal(0, 0.005) for d in deltas]
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)], "method": ["drs"] * n,
        "classifier/drs_delta": deltas, "pseudo_labels/alpha": alphas, "seed": [0] * n,
        "data/root": ["/x"] * n, "choice/grid": [f"p{i}" for i in range(n)],
        "metrics.pseudo_labels/miou": pseudo,
        "metrics.evaluate/miou": [p - 0.1 for p in pseudo],
        "metrics.segment/final_loss": [1.0 - p for p in pseudo]})


def test_the_deciding_setting_is_the_important_one() -> None:
    df = _trials()
    assert importance.varied_settings(df) == ["classifier/drs_delta", "pseudo_labels/alpha"]
    metrics = importance.stage_metrics(df)
    assert metrics == [("pseudo_labels/miou", True), ("segment/final_loss", False),
                       ("evaluate/miou", True)]
    table, evaluator = importance.importances(df, metrics)
    assert evaluator == "fANOVA"
    for metric in ("pseudo_labels/miou", "segment/final_loss", "evaluate/miou"):
        assert table.loc["classifier/drs_delta", metric] > 0.8  # α is noise
        assert table[metric].sum() == pytest.approx(1.0)


def test_many_trials_use_ped_anova_which_small_studies_fool(monkeypatch) -> None:
    table, evaluator = importance.importances(_trials(120), [("pseudo_labels/miou", True)])
    assert evaluator == "PED-ANOVA"
    assert table.loc["classifier/drs_delta", "pseudo_labels/miou"] > 0.8
    # why not below 100 trials: its top 10 % is one trial, and noise looks half as important
    small, _ = importance.importances(_trials(12), [("pseudo_labels/miou", True)])
    assert small.loc["pseudo_labels/alpha", "pseudo_labels/miou"] < 0.2
    monkeypatch.setattr(importance, "PED_ANOVA_FROM", 0)
    fooled, name = importance.importances(_trials(12), [("pseudo_labels/miou", True)])
    assert name == "PED-ANOVA" and fooled.loc["pseudo_labels/alpha", "pseudo_labels/miou"] > 0.3


def test_nothing_varied_or_too_few_trials_gives_no_section(tmp_path: Path) -> None:
    df = _trials()
    assert importance.importances(df.iloc[:2], [("pseudo_labels/miou", True)])[0].empty
    same = df.assign(**{"classifier/drs_delta": 0.55, "pseudo_labels/alpha": 0.2})
    assert importance.section(same, "pseudo_labels/miou", tmp_path) == []


def test_section_writes_the_table_and_the_figure(tmp_path: Path) -> None:
    lines = importance.section(_trials(), "pseudo_labels/miou", tmp_path, png="p.png")
    text = "\n".join(lines)
    assert "fANOVA importance over 12 trials" in text
    assert "| classifier/drs_delta |" in text and "![settings against metrics](p.png)" in text
    assert (tmp_path / "p.png").stat().st_size > 5_000


def test_headlines_are_the_stages_own_scores() -> None:
    """analysis never imports torch, so it writes the stages' scores out: they must agree."""
    from wsss.pipeline import STAGES

    stages = {(name, s.score, s.maximize) for name, s in STAGES.items()}
    assert stages == set(importance.STAGE_SCORES)
    assert {name: tuple(s.reads) for name, s in STAGES.items()} == importance.STAGE_READS
    assert importance.HEADLINES[-1] == ("evaluate/miou_crf", True)


def test_a_setting_no_stage_up_to_a_metric_reads_gets_no_importance_for_it() -> None:
    """β decides pseudo_labels/miou; the classifier's mAP is δ's alone, even where β happens to
    follow it in the trials."""
    rows = []
    for i in range(12):
        delta, beta = (0.4, 0.5, 0.6)[i % 3], (0.1, 0.2)[i % 2]
        rows.append({"classifier/drs_delta": delta, "pseudo_labels/beta": beta, "seed": 0,
                     "metrics.classifier/val/map": delta + 0.001 * i,
                     "metrics.pseudo_labels/miou": beta + 0.001 * i})
    table, _ = importance.importances(pd.DataFrame(rows), [("classifier/val/map", True),
                                                           ("pseudo_labels/miou", True)])
    assert table.loc["pseudo_labels/beta", "classifier/val/map"] == 0.0
    assert table.loc["classifier/drs_delta", "classifier/val/map"] == pytest.approx(1.0)
    assert table.loc["pseudo_labels/beta", "pseudo_labels/miou"] > 0.5
    assert importance.can_move("refine/enabled", "evaluate/miou_crf")
    assert not importance.can_move("refine/enabled", "cams/miou")
    assert importance.can_move("classifier/arch", "pretrain/val/map")
    assert not importance.can_move("random_walk/beta", "cams/miou")


def test_axis_labels_read_short() -> None:
    assert importance._label("('layer5', 'layer6')") == "layer5-6"
    assert importance._label("('layer6',)") == "layer6"
    assert importance._label("('layer1', 'layer3')") == "layer1,3"
    assert importance._label("()") == "none"
    assert importance._label("constant") == "constant"
    assert importance._label("x" * 30) == "x" * 13 + "…"
