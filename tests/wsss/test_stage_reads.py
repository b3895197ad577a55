"""Every stage reads nothing outside its cache key (docs/architecture.md, "The stage cache"), and
wants a GPU exactly when it builds or loads a network.

Each stage of both methods runs on the tiny benchmark with a config that records every field
read. A stage may read what it declares (``Stage.reads`` and ``reads_if``), what its
upstream stages' keys cover (their keys are part of its own), and fields marked
``OUTSIDE_KEY`` (speed or location only). Anything else could serve a stale entry: on the
code before this test, oracle selection read the ground-truth folder (``scoring/gt_dir``)
outside the classifier key.

The same runs count the convolutions each stage constructs: a stage that builds or loads a
network must declare ``gpu=True`` (a study with GPUs runs it on one) and one that does not
must not (it would hold a GPU it never uses).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from wsss import config
from wsss.pipeline import OUTSIDE_KEY, STAGES, key_fields, plan
from wsss.testing import ReadRecorder

COMMON = {"profile": "tiny", "data/workers": 0, "pseudo_labels/workers": 1, "crf_labels/workers": 1,
          "evaluate/workers": 1}
CASES = {
    "drs-oracle-refine": {"refine/enabled": True, "oracle": True, "classifier/select": "oracle"},
    "ssenet": {"method": "ssenet"},
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_stages_read_only_what_their_key_covers(case: str, tiny_root: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config.resolve({**COMMON, "data/root": str(tiny_root), **CASES[case]})
    outs: dict[str, Path] = {}
    covered: dict[str, set[str]] = {}
    outside: dict[str, list[str]] = {}
    convs: list[int] = []  # every network built, trained or loaded has convolutions
    built = torch.nn.Conv2d.__init__
    monkeypatch.setattr(torch.nn.Conv2d, "__init__",
                        lambda self, *a, **k: (convs.append(1), built(self, *a, **k))[1])
    networks: dict[str, bool] = {}
    for name, roles in plan(cfg):
        stage, log = STAGES[name], set()
        out = tmp_path / name
        out.mkdir()
        convs.clear()
        metrics = stage.run(ReadRecorder(cfg, log), {r: outs[s] for r, s in roles.items()}, out)
        networks[name] = bool(convs)
        assert metrics and all(k.startswith(f"{name}/") for k in metrics), (name, metrics)
        outs[name] = out
        covered[name] = set(key_fields(cfg, stage)).union(
            *(covered[s] for s in roles.values()))
        extra = sorted(log - covered[name] - OUTSIDE_KEY)
        if extra:
            outside[name] = extra
    assert [n for n, _ in plan(cfg)][-1] == "evaluate"  # every stage of the method ran
    assert outside == {}
    assert {n: STAGES[n].gpu for n in networks} == networks  # gpu = builds or loads a network
    assert not networks["pseudo_labels" if case.startswith("drs") else "crf_labels"]


def test_the_recorder_sees_nested_reads() -> None:
    log: set[str] = set()
    cfg = ReadRecorder(config.resolve({}), log)
    section = cfg.classifier  # a section alone is not a read
    assert log == set()
    _ = (section.arch, cfg.seed, cfg.scoring.gt_dir)
    assert log == {"classifier/arch", "seed", "scoring/gt_dir"}
    with pytest.raises(AttributeError):
        cfg.seed = 3
