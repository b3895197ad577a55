"""The ``Method`` record: what distinguishes one WSSS method's pipeline from another's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch stays out of the method modules' import (the study driver reads them)
    import torch

    from wsss.models.classifier import Classifier
    from wsss.options import ClassifierConfig, PipelineConfig

# (stage name, {input role: upstream stage name}), in execution order
Step = tuple[str, dict[str, str]]
# a training step: batch -> (loss, outputs for the epoch's metrics)
StepFn = Callable[[Any], "tuple[torch.Tensor, dict[str, Any]]"]


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
            outputs)``, the classifier stage's training step.
        objective: The metric a study of this method maximises unless told otherwise.
        grids: The papers' tables as named points of config constants, by grid name.
        grid_until: The last stage a grid's trials run, the stage of the papers' own numbers
            or past them to the final metric (DRS's tables report DeepLab's val mIoU,
            SSENet's add it as a column: ``evaluate``); "" = the objective's.
        rungs: The stages at which a stage-aware study (``--asha``) judges a trial: those
            whose metric ranks configurations like the final mIoU does (docs/search.md).
        title: How tables, claims and reports name it (``DRS``).
        short_names: Short labels of the keys its studies vary, for MLflow run names
            (``classifier/drs_delta`` -> ``δ``).
        tables: The papers' tables ``wsss reproduce`` rebuilds, each run from the grid of
            the same name.
        synthetic_grids: A table's grid on the synthetic profiles where it differs (sizes
            given in pixels scale with the images: SSENet's Table 2).
        space_module, table_module: Where its search spaces (``SPACES``) and its tables and
            claims (``TABLES``, ``CLAIMS``) live; default ``search_spaces.<name>`` and
            ``analysis.<name>``.
    """

    name: str
    paper: str
    overlay: Mapping[str, Any]
    presets: Mapping[str, Mapping[str, Any]]
    profiles: Mapping[str, Mapping[str, Any]]
    weak_labels: Callable[[PipelineConfig], tuple[list[Step], str]]
    classifier_step: Callable[[Classifier, torch.device, ClassifierConfig], StepFn]
    objective: str
    grids: Mapping[str, Mapping[str, Mapping[str, Any]]]
    grid_until: str = ""
    rungs: tuple[str, ...] = ()
    title: str = ""
    short_names: Mapping[str, str] = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    synthetic_grids: Mapping[str, str] = field(default_factory=dict)
    space_module: str = ""
    table_module: str = ""

    def __post_init__(self) -> None:
        for name, default in (("title", self.name),
                              ("space_module", f"search_spaces.{self.name}"),
                              ("table_module", f"analysis.{self.name}")):
            if not getattr(self, name):
                object.__setattr__(self, name, default)  # frozen: defaults that need the name
        unknown = [t for t in (*self.tables, *self.synthetic_grids.values())
                   if t not in self.grids]
        if unknown:
            raise ValueError(f"method {self.name!r}: tables {unknown} have no grid of that name")
        missing = [p for p in ("reference", "paper") if p not in self.presets]
        if missing:
            raise ValueError(f"method {self.name!r} lacks preset(s) {missing}")

    def table_grids(self, profile: str) -> tuple[str, ...]:
        """The grids its papers' tables need on ``profile`` (VOC's or a synthetic one)."""
        on_voc = profile.startswith("voc")  # voc, voc-smoke: VOC's images and sizes
        return tuple(t if on_voc else self.synthetic_grids.get(t, t) for t in self.tables)
