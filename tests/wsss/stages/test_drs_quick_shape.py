"""DRS Table 1's shape on the synthetic `quick` benchmark (slow: about 6 minutes on 2 cores).

Stable across seeds 0 and 1 (benchmarks/drs_quick_sweep.py; numbers in the README): an
intermediate delta beats no DRS by a wide margin and delta 0.4 over-suppresses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wsss import config
from wsss.cache import StageCache
from wsss.data.synthetic import generate
from wsss.pipeline import run_pipeline


@pytest.mark.slow
def test_intermediate_delta_beats_baseline_and_delta_04(tmp_path_factory) -> None:
    root: Path = tmp_path_factory.mktemp("quick") / "data"
    generate(root, "quick")
    cache = StageCache(tmp_path_factory.mktemp("cache"))
    miou = {}
    for name, drs in {"baseline": {"classifier/drs": "none"},
                      "0.55": {"classifier/drs": "constant", "classifier/drs_delta": 0.55},
                      "0.40": {"classifier/drs": "constant", "classifier/drs_delta": 0.4}}.items():
        cfg = config.resolve({"profile": "quick", "data/root": str(root), **drs})
        entries = run_pipeline(cfg, cache, until="pseudo_labels")
        miou[name] = entries["pseudo_labels"].metrics["pseudo/miou_miss"]
    assert miou["0.55"] > miou["baseline"] + 0.05, miou
    assert miou["0.40"] < miou["0.55"] - 0.01, miou
