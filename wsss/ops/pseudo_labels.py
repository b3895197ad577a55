"""DRS pseudo segmentation labels from localization maps and a saliency map (docs/method.md,
"Pseudo labels").

For maps M (C x H x W, already multiplied by the image label) and saliency S in [0, 1]::

    M[M < alpha] = 0                         # object cue
    B = [S < beta]                           # background channel: non-salient pixels
    pred = argmax([B, M])                    # ties go to the background
    pred[#{channels > conf} > count] = 255   # conflict rule (reference: > 2 at 0.9; 0 = off)
    pred[salient & pred == 0] = 255          # salient, but no object cue: ignore

Classifier maps are at most 1, so an object never wins where saliency says background;
refined maps can exceed 1 and override it, as in the reference code.
"""

from __future__ import annotations

import numpy as np

IGNORE = 255


def pseudo_label(
    maps: np.ndarray,
    saliency: np.ndarray,
    *,
    alpha: float = 0.2,
    beta: float = 0.2,
    conflict_count: int = 2,
    conflict_conf: float = 0.9,
) -> np.ndarray:
    """H x W uint8 labels: 0 background, k + 1 for class k, 255 ignore.

    Args:
        maps: C x H x W float maps, zero for absent classes.
        saliency: H x W saliency in [0, 1] (the 0-255 PNG divided by 255).
        alpha: Object-cue threshold.
        beta: Pixels with saliency below ``beta`` are background. The reference code's
            ``png > 50`` is salient, i.e. background is ``png / 255 < 51 / 255 = 0.2``.
        conflict_count: More than this many channels above ``conflict_conf`` -> 255; 0 = off.
        conflict_conf: Confidence of the conflict rule.
    """
    if maps.shape[1:] != saliency.shape:
        raise ValueError(f"maps {maps.shape[1:]} and saliency {saliency.shape} differ in size")
    cue = np.where(maps < alpha, 0.0, maps)
    salient = saliency >= beta
    stack = np.concatenate([(~salient)[None].astype(cue.dtype), cue], axis=0)  # (C+1, H, W)
    pred = stack.argmax(axis=0).astype(np.uint8)
    if conflict_count > 0:
        confident = (stack > conflict_conf).sum(axis=0)
        pred[confident > conflict_count] = IGNORE
    pred[salient & (pred == 0)] = IGNORE
    return pred
