"""Pipeline stages: one module each, a function ``run(cfg, inputs, out_dir, report)``.

Each module ends with a ``Stage`` record that declares what the stage reads from the config
(its cache key is derived from that), the prefix and headline of the metrics it returns, and
whether it builds or loads a network (and so wants a GPU). A stage never imports another
stage: file names and loaders of stage outputs live in ``wsss.artifacts``, the training loop
in ``wsss.engine``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsss.options import PipelineConfig

StageFn = Callable[[Any, Mapping[str, Path], Path, Callable], Mapping[str, float]]


def _no_extra_reads(cfg: PipelineConfig) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Stage:
    """What the pipeline, the cache, the trainables and the tests need to know of a stage.

    One name per stage: ``name`` is its cache folder, the ``stage`` tag of its MLflow run,
    the section of its config options and the prefix of every metric it returns
    (``classifier/val/map`` from ``classifier``); ``tests/wsss/test_methods.py`` checks it.

    Attributes:
        name: The stage's name (above).
        run: ``run(cfg, inputs, out_dir, report) -> metrics``.
        reads: Config keys its output depends on; ``"cams/"`` takes a whole section. The
            cache key hashes these (and the upstream keys), so a test proves that a stage
            reads nothing else (``tests/wsss/test_stage_reads.py``).
        score: Its headline metric: the rung score a multi-fidelity scheduler compares.
        maximize: False where a higher ``score`` is worse (a loss); reporters negate it.
        gpu: It builds or loads a network (trains one or runs one), so a study with GPUs
            runs it on a GPU; the stages without one (pseudo labels, CRF labels) never hold
            a GPU. ``tests/wsss/test_stage_reads.py`` derives it from what each stage does.
        version: Bumped when the stage's code changes what it writes.
        reads_if: Extra keys read only in some configurations (oracle selection).
    """

    name: str
    run: StageFn
    reads: tuple[str, ...]
    score: str
    gpu: bool
    version: str
    maximize: bool = True
    reads_if: Callable[[Any], tuple[str, ...]] = _no_extra_reads
