"""The ``Method`` record: what distinguishes one WSSS method's pipeline from another's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# (stage name, {input role: upstream stage name}), in execution order
Step = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class Method:
    """One method, as plain data and functions (no registry, no string lookups).

    Attributes:
        name: The value of the ``method`` config key.
        paper: Title, venue or arXiv id of the paper it reproduces.
        overlay: Flat config keys laid over the shared defaults (the authors' code).
        presets: ``reference`` (the authors' code, empty) and ``paper`` (the paper's text):
            every paper-vs-code difference of ``docs/method.md``.
        profiles: Per-profile overlays on top of the shared ``config.PROFILES``.
        weak_labels: ``cfg -> (steps after pretrain, the stage whose labels/ train segment)``.
        classifier_step: ``(model, device, classifier config) -> step(batch) -> (loss,
            outputs)``, the classify stage's training step.
        objective: The metric a study of this method maximises unless told otherwise.
        grids: The papers' tables as named points of config constants, by grid name.
        grid_until: The last stage a grid's trials run, the stage of the papers' own numbers
            or past them to the final metric (DRS's tables report DeepLab's val mIoU,
            SSENet's add it as a column: ``evaluate``); "" = the objective's.
        rungs: The stages at which a stage-aware study (``--asha``) judges a trial: those
            whose metric ranks configurations like the final mIoU does (docs/search.md).
    """

    name: str
    paper: str
    overlay: Mapping[str, Any]
    presets: Mapping[str, Mapping[str, Any]]
    profiles: Mapping[str, Mapping[str, Any]]
    weak_labels: Callable[[Any], tuple[list[Step], str]]
    classifier_step: Callable[[Any, Any, Any], Callable[[Any], tuple[Any, dict[str, Any]]]]
    objective: str
    grids: Mapping[str, Mapping[str, Mapping[str, Any]]]
    grid_until: str = ""
    rungs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [p for p in ("reference", "paper") if p not in self.presets]
        if missing:
            raise ValueError(f"method {self.name!r} lacks preset(s) {missing}")
