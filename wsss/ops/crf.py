"""Dense CRF over pydensecrf, run over a process pool.

Krähenbühl & Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge
Potentials", NeurIPS 2011, arXiv:1210.5644: mean-field inference with a gaussian (position)
kernel and a bilateral (position and colour) kernel.

The kernels of each recipe (docs/method.md: "Segmentation networks", "CAMs and confident regions"):

==============  ======  ===============  ==========================  ===========================
recipe          iters   gaussian sxy/w   bilateral sxy / srgb / w    used for
==============  ======  ===============  ==========================  ===========================
``largefov``    10      3 / 3            121 / 5 / 4                 DeepLab-LargeFOV test (DRS)
``aspp``        10      1 / 3            67 / 3 / 4                  DeepLab-v2 ASPP test (DRS)
``psa``         10      3 / 3            80 / 13 / 10                SSENet/psa la/ha CAM labels
==============  ======  ===============  ==========================  ===========================

The ``psa`` recipe also makes SSENet's confident regions (``confident_marginals``).
``unary_from_softmax`` clips probabilities at 1e-5 and does not renormalise them (psa feeds
unnormalised CAM scores), and pydensecrf needs C-contiguous float32 / uint8 arrays.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from wsss.runtime import pool_processes

Recipe = Literal["largefov", "aspp", "psa"]


@dataclass(frozen=True)
class CrfParams:
    iters: int = 10
    pos_sxy: float = 3.0
    pos_w: float = 3.0
    bi_sxy: float = 121.0
    bi_srgb: float = 5.0
    bi_w: float = 4.0


RECIPES: dict[str, CrfParams] = {
    "largefov": CrfParams(10, 3, 3, 121, 5, 4),
    "aspp": CrfParams(10, 1, 3, 67, 3, 4),
    "psa": CrfParams(10, 3, 3, 80, 13, 10),
}


def dense_crf(image: np.ndarray, probs: np.ndarray, params: CrfParams) -> np.ndarray:
    """Marginals (C x H x W float32) of a dense CRF over ``image`` (H x W x 3 uint8).

    ``probs`` (C x H x W) are per-pixel scores, clipped at 1e-5 and used as -log(p).
    """
    import pydensecrf.densecrf as dcrf  # imported here: worker processes pay for it once
    from pydensecrf.utils import unary_from_softmax

    c, h, w = probs.shape
    if image.shape[:2] != (h, w):
        raise ValueError(f"CRF: image {image.shape[:2]} and scores {(h, w)} differ in size")
    crf = dcrf.DenseCRF2D(w, h, c)
    # pydensecrf wants writable C-contiguous buffers (PIL's arrays are read-only)
    crf.setUnaryEnergy(np.array(unary_from_softmax(probs.astype(np.float32)), order="C"))
    crf.addPairwiseGaussian(sxy=params.pos_sxy, compat=params.pos_w)
    crf.addPairwiseBilateral(sxy=params.bi_sxy, srgb=params.bi_srgb,
                             rgbim=np.array(image, dtype=np.uint8, order="C"),
                             compat=params.bi_w)
    q = crf.inference(params.iters)
    return np.asarray(q, dtype=np.float32).reshape(c, h, w)


def map_processes(fn: Callable[[Any], Any], items: Iterable[Any],
                  workers: int = 2) -> Iterator[Any]:
    """``fn`` over ``items`` in ``workers`` processes, results in order (serial if 1).

    Each dense CRF is single-threaded, so a split's CRFs scale with the cores. At most
    ``4 x workers`` items are in flight, so a 10k-image split never sits in memory at once.
    ``fn`` must be a module-level function (it is pickled); ``workers`` may be
    ``runtime.AUTO`` (one per CPU).
    """
    workers = pool_processes(workers)
    if workers <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(workers) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def confident_marginals(image: np.ndarray, maps: np.ndarray, power: float,
                        params: CrfParams = RECIPES["psa"]) -> np.ndarray:
    """psa's la/ha CRF: marginals of [bg, maps] with bg = (1 - max_k maps)^power.

    ``maps`` (K x H x W) are the present classes' normalised CAMs; the result is
    (K + 1) x H x W with the background first. A small power gives a large background score
    (only strong foreground survives); a large one a small score (only clear background).
    """
    peak = maps.max(axis=0) if len(maps) else np.zeros(image.shape[:2], dtype=np.float32)
    bg = np.power(np.clip(1.0 - peak, 0.0, 1.0), power)
    return dense_crf(image, np.concatenate([bg[None], maps]).astype(np.float32), params)


def confident_labels(la: np.ndarray, ha: np.ndarray) -> np.ndarray:
    """Compact labels from la/ha marginals (channel 0 = background): k > 0 where even the
    la CRF says foreground k, 0 where even the ha CRF says background, else 255."""
    la_arg, ha_arg = la.argmax(axis=0), ha.argmax(axis=0)
    label = la_arg.astype(np.uint8)
    label[la_arg == 0] = 255
    label[ha_arg == 0] = 0
    return label
