"""Constants of the VOC layout shared by the reader, the checker and the generator (no torch)."""

from __future__ import annotations

VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
META_FILE = "wsss_dataset.json"  # class names (and generator parameters) of a non-VOC set
IGNORE = 255


def voc_palette(n: int = 256) -> list[int]:
    """Flat [r0, g0, b0, r1, ...] of length 3n; index 255 is (224, 224, 192) as in VOC."""
    palette = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette
