"""SSENet search spaces (define-by-run), parameter names are the config's `/` keys.

As in ``drs.py``: only ``trial.suggest_*`` and constants; ``choice/`` parameters are recorded
and dropped before the config is built. The scale-augmentation range depends on the image
size, so it is swept by the ``sse2`` grids (VOC and synthetic), not here.
"""

from __future__ import annotations

from typing import Any

import optuna


def ser(trial: optuna.Trial) -> dict[str, Any]:
    """SER on (branch rate r in [0.2, 0.6]) or off (the baseline)."""
    if trial.suggest_categorical("choice/ser", [True, False]):
        trial.suggest_float("classifier/ser_rate", 0.2, 0.6, step=0.1)
        return {}
    return {"classifier/ser_rate": None}


def random_walk(trial: optuna.Trial) -> dict[str, Any]:
    """Affinity power beta and the number of steps t (the reference: 8 and 256)."""
    trial.suggest_categorical("random_walk/beta", [4.0, 6.0, 8.0, 10.0, 12.0])
    trial.suggest_categorical("random_walk/steps", [8, 16, 32, 64, 128, 256, 512])
    return {}


def confident(trial: optuna.Trial) -> dict[str, Any]:
    """The la/ha background powers of the CRF labels (SSE 4 / 24, psa 4 / 32)."""
    trial.suggest_categorical("crf_labels/la_power", [2.0, 4.0, 8.0])
    trial.suggest_categorical("crf_labels/ha_power", [16.0, 24.0, 32.0])
    return {}


def sse(trial: optuna.Trial) -> dict[str, Any]:
    """SER rate and the random walk together (the default SSENet space)."""
    return {**ser(trial), **random_walk(trial)}


def joint(trial: optuna.Trial) -> dict[str, Any]:
    """Everything SSENet's pipeline exposes at once (issue 16's search-vs-paper space): SER
    on/off with r, the equivariance weight η, the la/ha CRF powers and the random walk. The
    scale range is left out: its values are in pixels of one image size (see above)."""
    out = ser(trial)
    if out.get("classifier/ser_rate", 0) is not None:
        trial.suggest_categorical("classifier/ser_weight", [0.25, 0.5, 1.0, 2.0, 4.0])
    return {**out, **confident(trial), **random_walk(trial)}


SPACES = {"sse": sse, "sse-joint": joint, "sse-ser": ser, "sse-rw": random_walk,
          "sse-crf": confident}
