"""Which preprocessing suits the EfficientNet-Lite0 checkpoint? An empirical check.

For each candidate (fit: pad-to-square vs centre crop; normalisation: mean/std
0.5 vs ImageNet mean/std) this embeds every photo of the jewelry-types data set
once and reports

* ImageNet sanity: how often the checkpoint's own 1000-class head puts
  "necklace" in its top-5 for necklaces, a watch/clock class for watches, and
  its mean top-1 probability (a badly normalised input gives flat, unsure output);
* input statistics: the checkpoint's first BatchNorm stores the running variance of
  the stem convolution's output seen in training; the ratio (median over channels) of
  the variance we produce to that stored variance should be near 1 for the
  normalisation the network was trained with (a wrong scale shows up as ~x4 or ~x0.3);
* downstream: macro-F1 / accuracy of a class-balanced linear head in 5-fold
  stratified group cross-validation (the number that matters for us).

    python -m jewel_vision.training.check_preprocessing [--data ../shared/datasets/jewelry-types]

Takes ~5 minutes on 2 idle CPU cores (embeddings are cached under var/cache). Writes\n``jewel_vision/vision/weights/preprocessing_check.json``, which the model card quotes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from jewel_vision.vision.image_io import load_image
from jewel_vision.vision.predictors.embedder import Embedder, Preprocessing

from .common import (
    DEFAULT_CACHE_DIR,
    DEFAULT_DATA_DIR,
    cached_embeddings,
    confusion,
    log,
    metrics_from_confusion,
    read_manifest,
    stratified_group_folds,
    train_head,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WATCHLIKE = ("analog clock", "digital clock", "digital watch", "stopwatch", "wall clock")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "vision" / "weights" / "preprocessing_check.json",
        help="where to write the report (read by the model card); '-' for stdout only",
    )
    args = parser.parse_args(argv)

    import torch
    from torchvision.models import ResNet50_Weights  # only for the ImageNet class names (no download)

    if args.threads:
        torch.set_num_threads(args.threads)
    categories = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    necklace_ids = [categories.index("necklace")]
    watch_ids = [categories.index(c) for c in WATCHLIKE]

    rows = read_manifest(args.data)
    labels = [r["type"] for r in rows]
    classes = sorted(set(labels))
    y = np.array([classes.index(t) for t in labels])
    folds = stratified_group_folds(labels, [r["group_id"] for r in rows], 5, args.seed)
    paths = [args.data / r["path"] for r in rows]

    candidates = {
        "pad+half": Preprocessing(fit="pad"),
        "pad+imagenet": Preprocessing(fit="pad", mean=IMAGENET_MEAN, std=IMAGENET_STD),
        "crop+half": Preprocessing(fit="crop"),
        "crop+imagenet": Preprocessing(fit="crop", mean=IMAGENET_MEAN, std=IMAGENET_STD),
    }
    report = {}
    for name, pre in candidates.items():
        log(f"[{name}]")
        embedder = Embedder(preprocessing=pre, device="cpu", batch_size=32)

        def compute() -> np.ndarray:
            embedder.load()
            model = embedder._model
            out = []
            for start in range(0, len(paths), 64):
                imgs = [load_image(p) for p in paths[start : start + 64]]
                batch = torch.from_numpy(np.stack([embedder.preprocess(im) for im in imgs]))
                with torch.inference_mode():
                    pooled = model.extract_features(batch).mean(dim=(2, 3))
                    logits = model._fc(pooled)
                    emb = torch.nn.functional.normalize(pooled, dim=1)
                out.append(torch.cat([emb, torch.softmax(logits, 1)], 1).numpy())
            return np.concatenate(out)

        both = cached_embeddings(
            args.cache_dir, {"what": "check_preprocessing", "pre": repr(pre), "paths": [str(p) for p in paths]}, compute
        )
        emb, probs = both[:, :1280], both[:, 1280:]
        embedder.load()
        sample = np.random.default_rng(args.seed).choice(len(paths), size=min(128, len(paths)), replace=False)
        batch = torch.from_numpy(np.stack([embedder.preprocess(load_image(paths[i])) for i in sorted(sample)]))
        with torch.inference_mode():
            stem = embedder._model._conv_stem(batch)
        bn = embedder._model._bn0
        ratio = float((stem.var(dim=(0, 2, 3)) / bn.running_var.clamp_min(1e-12)).median())
        top5 = np.argsort(-probs, axis=1)[:, :5]
        is_neck = np.array([t == "necklace" for t in labels])
        is_watch = np.array([t == "watch" for t in labels])
        sanity = {
            "necklace_top5": float(np.mean([bool(set(top5[i]) & set(necklace_ids)) for i in np.nonzero(is_neck)[0]])),
            "watch_top5": float(np.mean([bool(set(top5[i]) & set(watch_ids)) for i in np.nonzero(is_watch)[0]])),
            "necklace_top1": float(np.mean(np.isin(top5[is_neck, 0], necklace_ids))),
            "watch_top1": float(np.mean(np.isin(top5[is_watch, 0], watch_ids))),
            "mean_top1_prob": float(probs.max(axis=1).mean()),
            "bn0_variance_ratio": ratio,
        }
        pred = np.zeros_like(y)
        for k in range(5):
            tr, va = folds != k, folds == k
            layers = train_head(emb[tr], y[tr], len(classes), l2=1e-3, epochs=300)
            w, b = layers[0]
            pred[va] = np.argmax(emb[va] @ w.T + b, axis=1)
        m = metrics_from_confusion(confusion(y, pred, len(classes)), classes)
        report[name] = {"imagenet_sanity": sanity, "cv_macro_f1": m["macro_f1"], "cv_accuracy": m["accuracy"]}
        log(json.dumps(report[name]))
    text = json.dumps(report, indent=2)
    print(text)
    if str(args.out) != "-":
        args.out.write_text(text + "\n", encoding="utf-8")
        log(f"report -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
