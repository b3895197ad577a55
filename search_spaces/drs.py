"""DRS search spaces (define-by-run). Parameter names are the config's `/` keys.

They only call ``trial.suggest_*`` and return constants (Ray's OptunaSearch rule): no I/O.
Continuous ranges use ``step`` so that trials can share cached upstream stages. A choice that
is not itself a config field (a placement's name) is a ``choice/`` parameter: recorded in
Optuna and MLflow, dropped before the config is built.
"""

from __future__ import annotations

from typing import Any

import optuna

from wsss.methods.drs import PLACEMENTS
from wsss.options import LAYERS


def controller(trial: optuna.Trial) -> dict[str, Any]:
    """Learnable controller, or a constant delta in [0.3, 0.95] (conditional)."""
    if trial.suggest_categorical("classifier/drs", ["learnable", "constant"]) == "constant":
        trial.suggest_float("classifier/drs_delta", 0.3, 0.95, step=0.05)
    return {}


def placement(trial: optuna.Trial) -> dict[str, Any]:
    """One of the nine placements of DRS Table 2 (named like ``4-6``)."""
    name = trial.suggest_categorical("choice/placement", list(PLACEMENTS))
    return {"classifier/drs_layers": PLACEMENTS[name]}


def free_placement(trial: optuna.Trial) -> dict[str, Any]:
    """Any subset of layer1..layer6, one boolean per group."""
    chosen = [g for g in LAYERS if trial.suggest_categorical(f"choice/drs_{g}", [True, False])]
    return {"classifier/drs_layers": tuple(chosen)}


def thresholds(trial: optuna.Trial) -> dict[str, Any]:
    """Pseudo-label object cue alpha and saliency background beta."""
    trial.suggest_float("pseudo_labels/alpha", 0.05, 0.5, step=0.05)
    trial.suggest_float("pseudo_labels/beta", 0.02, 0.4, step=0.02)
    return {}


def drs(trial: optuna.Trial) -> dict[str, Any]:
    """Controller and thresholds together (the default DRS space)."""
    return {**controller(trial), **thresholds(trial)}


def joint(trial: optuna.Trial) -> dict[str, Any]:
    """Everything the DRS papers' tables vary at once (issue 16's search-vs-paper space):
    controller and δ, DRS in each of layer1..layer6, α, β, and refinement (DRS†). No layer
    chosen means no DRS (Table 2's ``none`` row)."""
    controller(trial)
    layers = free_placement(trial)["classifier/drs_layers"]
    thresholds(trial)
    trial.suggest_categorical("refine/enabled", [False, True])
    if not layers:
        return {"classifier/drs": "none"}  # the controller's choice is moot
    return {"classifier/drs_layers": layers}


SPACES = {"drs": drs, "drs-joint": joint, "drs-controller": controller, "drs-placement": placement,
          "drs-free-placement": free_placement, "thresholds": thresholds}
