"""The torch datasets over a VOC layout: classification, segmentation and inference samples.

Every sample's augmentation draws from an RNG of (seed, epoch, index), so a run is the same
whatever the loader's worker count or order (a seeded run is repeatable: docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsss.data.transforms import Sample, to_tensor
from wsss.data.voc import Record, VocLayout, label_vector, load_image, load_mask, load_saliency

Transform = Callable[[Sample, np.random.Generator], Sample]


class VocDataset(Dataset):
    """Shared plumbing: records, a joint transform and a per-(seed, epoch, index) RNG."""

    def __init__(self, layout: VocLayout, records: Sequence[Record],
                 transform: Transform | None = None, *, seed: int = 0,
                 gt_dir: str = "SegmentationClassAug") -> None:
        self.layout, self.records, self.transform = layout, list(records), transform
        self.seed, self.epoch, self.gt_dir = seed, 0, gt_dir

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Augmentations depend on (seed, epoch, index): call once per epoch."""
        self.epoch = epoch

    def _apply(self, sample: Sample, index: int) -> Sample:
        if self.transform is None:
            return sample
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return self.transform(sample, rng)


class ClassificationDataset(VocDataset):
    """(image 3 x H x W normalised, label float[C])."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rec = self.records[index]
        sample = self._apply({"image": load_image(self.layout.image_path(rec.name))}, index)
        return to_tensor(sample["image"]), label_vector(rec.labels, self.layout.num_classes)


class SegmentationDataset(VocDataset):
    """(image 3 x H x W normalised, mask H x W int64 with 255 = ignore).

    ``mask_dir`` may point outside the dataset (a pseudo-label stage's output folder).
    """

    def __init__(self, *args: Any, mask_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mask_dir = mask_dir

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rec = self.records[index]
        image = load_image(self.layout.image_path(rec.name))
        path = (self.mask_dir / f"{rec.name}.png" if self.mask_dir
                else self.layout.mask_path(rec.name, self.gt_dir))
        mask = load_mask(path, self.layout.num_classes, image.shape[:2])
        sample = self._apply({"image": image, "mask": mask}, index)
        return to_tensor(sample["image"]), torch.from_numpy(sample["mask"].astype(np.int64))


class InferenceDataset(VocDataset):
    """Dict with name, image, label, saliency (0-255), optional mask and the original size."""

    def __init__(self, *args: Any, with_saliency: bool = True, with_mask: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.with_saliency, self.with_mask = with_saliency, with_mask

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        image = load_image(self.layout.image_path(rec.name))
        size = image.shape[:2]
        sample: Sample = {"image": image}
        if self.with_saliency:
            sample["saliency"] = load_saliency(self.layout.saliency_path(rec.name), size)
        if self.with_mask:
            sample["mask"] = load_mask(self.layout.mask_path(rec.name, self.gt_dir),
                                       self.layout.num_classes, size)
        sample = self._apply(sample, index)
        out = {"name": rec.name, "image": to_tensor(sample["image"]), "size": size,
               "label": label_vector(rec.labels, self.layout.num_classes)}
        for key in ("saliency", "mask"):
            if key in sample:
                out[key] = torch.tensor(sample[key])  # a copy: PIL arrays are read-only
        return out
