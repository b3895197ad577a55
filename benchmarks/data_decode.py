"""Would a decoded-image store pay? The JPEG/PNG decoding one epoch of a training stage does,
beside the whole data pipeline of that epoch (decode + augmentation + tensors + batching, no
loader workers) and a training epoch's compute.

    python benchmarks/data_decode.py [--profile quick] [--rounds 3] [key=value ...]

A store of decoded uint8 arrays would save at most the decode column (it still has to be
read); the ratio printed is that bound over the training epoch. Alternated rounds, median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from common import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="config keys, e.g. data/root=/data/VOC")
    args = parser.parse_args()

    import torch

    from wsss import config, engine
    from wsss.artifacts import classifier_from_config
    from wsss.data.datasets import ClassificationDataset
    from wsss.data.splits import open_layout, records
    from wsss.data.transforms import classifier_transform
    from wsss.data.voc import load_image, load_mask
    from wsss.runtime import fit_threads, place

    cfg = config.resolve({"profile": args.profile, **config.parse_overrides(args.overrides),
                          "data/workers": 0})
    fit_threads()
    layout = open_layout(cfg)
    recs = records(cfg, layout, cfg.data.train_split)
    c = cfg.classifier
    dataset = ClassificationDataset(layout, recs, classifier_transform(c), seed=0)
    model = classifier_from_config(cfg, layout.num_classes)
    place(model, torch.device("cpu"), cfg.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batches = [b for b in engine.loader(dataset, c.batch_size, workers=0)]

    def decode_images() -> None:
        for r in recs:
            load_image(layout.image_path(r.name))

    def decode_masks() -> None:  # segment also reads a label PNG per image
        for r in recs:
            load_mask(layout.mask_path(r.name, "SegmentationClassAug"), layout.num_classes)

    def pipeline() -> None:
        for _ in engine.loader(dataset, c.batch_size, workers=0):
            pass

    def train() -> None:
        model.train()
        for images, labels in batches:
            optimizer.zero_grad(set_to_none=True)
            logits = model(images.contiguous(memory_format=torch.channels_last))["logits"]
            torch.nn.functional.multilabel_soft_margin_loss(logits, labels).backward()
            optimizer.step()

    timings: dict[str, list[float]] = {}
    parts = {"decode images": decode_images, "decode label PNGs": decode_masks,
             "data pipeline (decode + augment + batch)": pipeline,
             "training compute (classifier)": train}
    for _ in range(args.rounds):
        for name, fn in parts.items():
            start = time.perf_counter()
            fn()
            timings.setdefault(name, []).append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in timings.items()}
    train_s = med["training compute (classifier)"]
    print(f"one epoch of {len(recs)} training images ({args.profile}, "
          f"{c.crop} px crops, batch {c.batch_size}; median of "
          f"{args.rounds} alternated rounds; {load()}):\n")
    print("| part | seconds per epoch | over the training compute |\n|---|---|---|")
    for name, s in med.items():
        print(f"| {name} | {s:.2f} | {s / train_s:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
