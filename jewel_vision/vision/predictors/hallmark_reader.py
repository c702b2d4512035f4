"""Reading hallmark stamps in photos: the :class:`HallmarkReader`.

It runs one of the OCR engines of :mod:`.ocr_engines` (RapidOCR or EasyOCR, offline), on
images prepared by :mod:`.ocr_preprocess`, with the lexicon rescoring of :mod:`.ocr_lexicon`
as a last resort.

The reader wraps an engine for hallmark photos:

1. **gate** - is the photo a stamp close-up at all, so OCR does not run on every catalogue
   photo (:meth:`HallmarkReader.decide`): with the photo's embedding, the stamp-gate head
   (:mod:`~jewel_vision.vision.predictors.stamp_gate`) skips plain photos and passes clear
   close-ups; otherwise a text detector decides (:meth:`HallmarkReader.gate`); ``force=True``
   skips both;
2. **read** - passes tried in order until one yields a hallmark (``ReaderConfig.passes``): the
   photo (short side brought to >= 160 px) x2, high-pass normalised (relief on shiny metal shows
   as edges, the metal's shading gradient is removed); CLAHE grey; unsharp + high-pass; raw;
   then the same rotated 180 and (only when nothing upright was read or a line stands upright)
   90/270 degrees. The recogniser's alphabet is restricted to :data:`HALLMARK_ALPHABET`
   (RapidOCR: CTC columns masked; EasyOCR: its ``allowlist``). As a last resort (RapidOCR) the
   CTC likelihood of every spelling in :func:`hallmark_lexicon` is computed on each detected
   line, and a word is accepted only if it is nearly as likely as the greedy reading and clearly
   beats every word of another mark (``lexicon_max_gap``/``lexicon_min_margin``);
3. **parse** - every line is parsed with :func:`~jewel_vision.vision.hallmarks.parse_hallmark`
   (a maker's mark glued onto the end, "333AR", is split off; a mark split over two boxes is
   joined) into :class:`TextFinding`; raw text is kept (``normalised=""``) when nothing parses;
4. **last resort** - when no pass read a mark, or only half of a gold pair, the
   :class:`~.stamp_recogniser.StampRecogniser` (a CRNN fine-tuned on tiny rendered stamps)
   reads the lines the detector finds (:meth:`HallmarkReader.line_crops`).

All choices (passes and their order, upscaling, gate thresholds, lexicon thresholds) were made
on the ``tune`` split of :mod:`jewel_vision.vision.stamps` and on packshots disjoint from the
ones the evaluation uses.

Measured figures (accuracy per condition, gate recall/false positives, ms/image) are in
``jewel_vision/vision/weights/OCR_CARD.md``.
"""


from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ..hallmarks import Hallmark, find_hallmarks, hallmark_tags, parse_hallmark
from ..types import TagPrediction, TextFinding
from .ocr_engines import HALLMARK_ALPHABET, Box, OcrEngine, OcrLine, RapidOcrEngine, get_engine
from .ocr_lexicon import ctc_log_likelihood, hallmark_lexicon
from .ocr_preprocess import clahe_normalise, highpass_normalise, scale_min_side, unsharp
from .stamp_gate import StampGate
from .stamp_recogniser import StampRecogniser

__all__ = ["GateResult", "HallmarkReader", "ReaderConfig"]


@dataclass(frozen=True)
class GateResult:
    """Outcome of the cheap pre-OCR test."""

    passed: bool
    score: float  # best text probability among the kept boxes (0 when none)
    boxes: tuple[Box, ...]
    ms: float
    reason: str


@dataclass(frozen=True)
class ReaderConfig:
    """Tuned on the ``tune`` split of :mod:`jewel_vision.vision.stamps` only."""

    min_side: int = 160  # upscale so the short side is at least this (stamps are small close-ups)
    max_side: int = 1280  # downscale large photos to this before anything else
    det_limit: int = 320  # detection input: short side brought up to this (rapidocr "min")
    # tried in order until one reads a hallmark (see _variant for the syntax)
    passes: tuple[str, ...] = (
        "highpass_x2", "clahe", "sharp", "raw", "highpass_x2_r180", "highpass_x2_r90", "highpass_x2_r270",
    )
    allowlist: str | None = HALLMARK_ALPHABET  # recogniser alphabet (None: the engine's full one)
    # last resort (RapidOCR only): CTC likelihood of every lexicon spelling on these passes.
    # Off by default: the lexicon is a closed list of whole marks used to snap readings, which
    # would hold any test set's strings (see OCR_CARD.md, "cross-renderer").
    lexicon_passes: tuple[str, ...] = ()
    lexicon_max_gap: float = 2.5  # accept if log P(word) >= log P(greedy path) - this (nats)
    lexicon_min_margin: float = 2.0  # ... and beats the best word of another mark by this (nats)
    gate_side: int = 256  # the gate detects on the photo scaled to this long side
    gate_min_score: float = 0.7  # mean text probability inside a detected box
    gate_min_box_px: float = 4.0  # box height at gate scale
    gate_min_aspect: float = 1.6  # box width / height
    # a photo whose long side is at least this gets a second text-gate look at gate_zoom_side
    # when the 256 px look finds nothing (a tiny stamp vanishes at 256 px)
    gate_zoom_from: int = 480
    gate_zoom_side: int = 768
    # the looks of that second look, in order until one passes: the high-pass that helps reading
    # hides tiny debossed text from the detector, which finds it on the raw photo (as _locate does)
    gate_zoom_looks: tuple[str, ...] = ("highpass", "raw")
    # locate, then zoom: on photos with a long side >= locate_from, text boxes found at up to
    # locate_side px are grouped; where the text is small in the photo (box height < photo
    # height / locate_small), each group (at most locate_max) is cropped, scaled so its detected
    # box is about zoom_box_px high (the detector's box is ~2.6x the text height: ~35 px text;
    # at most x4, bounded by max_side) and read with the passes first
    locate_from: int = 480
    locate_side: int = 1024
    locate_up_side: int = 1600
    locate_small: float = 5.0
    locate_max: int = 3
    locate_min_score: float = 0.5
    # the looks _locate takes, in order, until one finds a box: ``<highpass|raw>_x<scale>``
    # (scale bounded by locate_up_side). The high-pass that helps reading hides tiny debossed
    # text from the detector, which finds it on the raw photo at 2x (tune split, cross specs)
    locate_looks: tuple[str, ...] = ("highpass_x1", "raw_x1", "raw_x2", "highpass_x2")
    zoom_box_px: float = 90.0
    # after a pass that read only half of a gold pair (a karat or a fineness), this many more
    # passes may add the other half
    pair_extra_passes: int = 2
    # last resort when no pass read a mark: the stamp recogniser (stamp_recogniser.py) on each
    # line the detector finds in the located crops (else the photo), high-passed; a line's
    # reading counts when its mean character probability reaches this (chosen on tune renders)
    stamp_recogniser_min_score: float = 0.0
    line_pad: float = 0.1  # a line crop's margin, in line heights

    def __post_init__(self) -> None:
        for look in self.gate_zoom_looks:
            if look not in ("highpass", "raw"):
                raise ValueError(f"unknown gate look {look!r} (highpass or raw)")
        for look in self.locate_looks:
            kind, _, scale = look.partition("_x")
            if kind not in ("highpass", "raw") or (scale and not scale.replace(".", "", 1).isdigit()):
                raise ValueError(f"unknown locate look {look!r} (<highpass|raw>_x<scale>)")


class HallmarkReader:
    """Reads hallmark stamps in photos; see the module docstring.

    ``read(image)`` returns one :class:`TextFinding` per text line read (hallmark or not:
    ``normalised``/``metal``/``purity`` are filled only where a hallmark parsed), best first;
    an empty list when the gate rejects the photo or nothing is read.
    """

    def __init__(self, engine: str | OcrEngine = "rapidocr", *, config: ReaderConfig | None = None,
                 gate_engine: str | OcrEngine | None = "rapidocr", stamp_gate: StampGate | None = None,
                 recogniser: StampRecogniser | None | str = "default") -> None:
        self.engine = get_engine(engine) if isinstance(engine, str) else engine
        # the last-resort line recogniser; "default": the shipped weights when the file exists
        if recogniser == "default":
            shipped = StampRecogniser(allowlist=HALLMARK_ALPHABET)
            recogniser = shipped if shipped.available else None
        self.recogniser: StampRecogniser | None = recogniser  # type: ignore[assignment]
        # a StampGate (p(stamp close-up) from the photo's embedding): used when read() gets one
        self.stamp_gate = stamp_gate
        self.config = config or ReaderConfig()
        self._gate_engine = gate_engine
        self.last_gate: GateResult | None = None
        self.last_lexicon: list[tuple[str, float, float]] = []
        self._lex = None
        self.last_timings: dict[str, float] = {}

    @property
    def engine_id(self) -> str:
        return f"{self.engine.name}@{self.engine.version}"

    @property
    def config_id(self) -> str:
        """``reader@<hash of the ReaderConfig>``: a change of reading rules (gate looks, passes,
        thresholds) is a new version in the pipeline's provenance, like a change of weights."""
        digest = hashlib.sha256(json.dumps(asdict(self.config), sort_keys=True, default=str).encode())
        return f"reader@{digest.hexdigest()[:10]}"

    # ---- gate -----------------------------------------------------------------------------
    def gate(self, image: Image.Image) -> GateResult:
        """Is there stamp-like text? The PP-OCRv4 detector alone, on a small high-passed copy.

        The photo is scaled (up or down) to ``gate_side`` px on its long side, high-pass
        normalised (stamps are relief on shiny metal) and given to the detection network only.
        It passes when a box has a mean text probability >= ``gate_min_score``, a height >=
        ``gate_min_box_px`` and is at least ``gate_min_aspect`` times wider than tall (a line of
        characters, not a ring seen edge-on). Cost and recall/false positives: OCR_CARD.md.
        """
        t0 = time.perf_counter()
        eng = self._gate_engine
        det_engine = get_engine(eng) if isinstance(eng, str) else eng
        if not isinstance(det_engine, RapidOcrEngine):
            det_engine = get_engine("rapidocr")
        cfg = self.config
        w, h = image.size
        f = cfg.gate_side / max(w, h)
        small = image.convert("RGB").resize((max(1, int(round(w * f))), max(1, int(round(h * f)))), Image.BILINEAR)
        boxes = det_engine.detect(highpass_normalise(small), limit_side=cfg.gate_side)
        keep, best = self._gate_boxes(boxes, small.size)
        if not keep and max(w, h) >= cfg.gate_zoom_from and cfg.gate_zoom_side > cfg.gate_side:
            # a second look at a higher resolution (bounded: at most gate_zoom_side px)
            f2 = min(1.0, cfg.gate_zoom_side / max(w, h))
            big = image.convert("RGB")
            if f2 < 1.0:
                big = big.resize((max(1, int(round(w * f2))), max(1, int(round(h * f2)))), Image.BILINEAR)
            for look in cfg.gate_zoom_looks:
                src = highpass_normalise(big) if look == "highpass" else big
                more = det_engine.detect(src, limit_side=cfg.gate_zoom_side)
                keep, best = self._gate_boxes(more, big.size, min_px=cfg.gate_min_box_px * 2)
                boxes = boxes + more
                if keep:
                    break
        ms = (time.perf_counter() - t0) * 1000
        passed = bool(keep)
        reason = "text-like boxes found" if passed else ("no text-like boxes" if boxes else "no text detected")
        return GateResult(passed, float(best), tuple(keep), ms, reason)

    def _gate_boxes(self, boxes: list[tuple[Box, float]], size: tuple[int, int],
                    min_px: float | None = None) -> tuple[list[Box], float]:
        cfg = self.config
        sw, sh = size
        keep: list[Box] = []
        best = 0.0
        for (x0, y0, x1, y1), score in boxes:
            bh, bw = (y1 - y0) * sh, (x1 - x0) * sw
            if score < cfg.gate_min_score or bh < (min_px or cfg.gate_min_box_px) or bw < cfg.gate_min_aspect * bh:
                continue
            keep.append((x0, y0, x1, y1))
            best = max(best, score)
        return keep, best

    def decide(self, image: Image.Image, embedding: np.ndarray | None = None) -> GateResult:
        """Should ``image`` be read? The stamp gate on ``embedding`` first (when both are given), then the text gate."""
        gate = self.stamp_gate
        if embedding is None or gate is None:
            return self.gate(image)
        t0 = time.perf_counter()
        p = float(gate.stamp_probability(np.asarray(embedding, np.float32).reshape(1, -1))[0])
        if p < gate.low:
            return GateResult(False, p, (), (time.perf_counter() - t0) * 1000, f"not a stamp close-up (p={p:.3f})")
        if p >= gate.high:
            return GateResult(True, p, (), (time.perf_counter() - t0) * 1000, f"stamp close-up (p={p:.3f})")
        return self.gate(image)

    # ---- reading ----------------------------------------------------------------------------
    def _engine_read(self, image: Image.Image) -> list[OcrLine]:
        if self.config.allowlist:
            try:
                return self.engine.read(image, allowlist=self.config.allowlist)  # type: ignore[call-arg]
            except TypeError:  # an engine without the option
                pass
        return self.engine.read(image)

    @staticmethod
    def _rotation(name: str) -> int:
        for part in name.split("_"):
            if part in ("r90", "r180", "r270"):
                return int(part[1:])
        return 0

    def _variant(self, image: Image.Image, name: str) -> Image.Image:
        """A pass: ``<filter>[_x<scale>][_r<angle>]``, filter = highpass | clahe | sharp | raw."""
        parts = name.split("_")
        out = image
        for part in parts[1:]:
            if part.startswith("x"):
                f = float(part[1:])
                w, h = out.size
                f = min(f, self.config.max_side / max(w, h))
                if f > 1.01:
                    out = out.resize((int(round(w * f)), int(round(h * f))), Image.BICUBIC)
        kind = parts[0]
        if kind == "highpass":
            out = highpass_normalise(out)
        elif kind == "clahe":
            out = clahe_normalise(out)
        elif kind == "sharp":
            out = highpass_normalise(unsharp(out))
        elif kind != "raw":
            raise ValueError(f"unknown OCR pass {name!r}")
        angle = self._rotation(name)
        if angle:
            out = out.rotate(angle, expand=True)
        return out

    @classmethod
    def _unrotate(cls, box: Box, name: str) -> Box:
        x0, y0, x1, y1 = box
        angle = cls._rotation(name)
        if angle == 180:
            return (1 - x1, 1 - y1, 1 - x0, 1 - y0)
        if angle == 270:  # image was rotated 270 ccw (= 90 cw): new (x, y) = (1 - y, x) of the old
            return (y0, 1 - x1, y1, 1 - x0)
        if angle == 90:  # rotated 90 ccw: new (x, y) = (y, 1 - x) of the old
            return (1 - y1, x0, 1 - y0, x1)
        return box

    def _lexicon_read(self, img: Image.Image) -> list[TextFinding]:
        """Score every lexicon spelling under CTC on each detected line; keep a confident winner."""
        eng = self.engine
        if not isinstance(eng, RapidOcrEngine) or not self.config.lexicon_passes:
            return []
        if getattr(self, "_lex", None) is None:
            index = {c: i for i, c in enumerate(eng.characters)}
            words = [w for w in hallmark_lexicon() if all(ch in index for ch in w)]
            self._lex = (words, [[index[ch] for ch in w] for w in words], [parse_hallmark(w).mark for w in words])
        words, labels, marks = self._lex
        best: TextFinding | None = None
        best_gap = -np.inf
        self.last_lexicon = []
        for name in self.config.lexicon_passes:
            for box, probs in eng.line_probabilities(self._variant(img, name)):
                logp = np.log(np.clip(probs, 1e-12, 1.0))
                greedy = float(logp.max(axis=1).sum())
                ll = ctc_log_likelihood(logp, labels)
                order = np.argsort(-ll)
                top = int(order[0])
                other = next((int(j) for j in order[1:] if marks[j] != marks[top]), None)
                gap = float(ll[top] - greedy)
                margin = float(ll[top] - ll[other]) if other is not None else np.inf
                self.last_lexicon.append((words[top], gap, margin))
                if gap < -self.config.lexicon_max_gap or margin < self.config.lexicon_min_margin:
                    continue
                if gap > best_gap:
                    hm = parse_hallmark(words[top])
                    score = float(np.exp(gap / max(1, len(words[top]))))  # per-character likelihood ratio
                    best = TextFinding(words[top], hm.mark, box, score, self.engine_id + "+lexicon", hm.metal, hm.purity)
                    best_gap = gap
        return [best] if best is not None else []

    @staticmethod
    def _parse_line(text: str) -> Hallmark | None:
        hm = parse_hallmark(text)
        if hm is not None:
            return hm
        # OCR glues a maker's mark onto the mark ("333AR", "9KJV"): split a trailing word off
        # where what is left is a mark; the parser alone stays strict about such tokens.
        for tok in text.upper().split():
            for cut in range(len(tok) - 2, 0, -1):
                head, tail = tok[:cut], tok[cut:]
                if not (tail.isalpha() and head[-1:].isalnum()):
                    continue
                hm = parse_hallmark(head)
                if hm is not None:
                    return hm
        return None

    @classmethod
    def _parse_marks(cls, text: str) -> list[Hallmark]:
        """Every mark on a line ("18K 750" -> 18K and 750), else what :meth:`_parse_line` finds."""
        found = find_hallmarks(text)
        if found:
            return found
        hm = cls._parse_line(text)
        return [hm] if hm is not None else []

    @staticmethod
    def _split_box(box: Box, text: str, marks: list[Hallmark]) -> list[Box]:
        """One box per mark of a line: the line's box cut where the line's words are."""
        if len(marks) < 2:
            return [box]
        words = text.split()
        if len(words) != len(marks):
            return [box] * len(marks)
        total = max(1, len(text))
        out, pos = [], 0
        x0, y0, x1, y1 = box
        for wd in words:
            start = text.index(wd, pos)
            pos = start + len(wd)
            out.append((x0 + (x1 - x0) * start / total, y0, x0 + (x1 - x0) * pos / total, y1))
        return out

    def _locate(self, img: Image.Image) -> list[Box]:
        """Groups of text boxes where the text is small in the photo (normalised), best first."""
        cfg = self.config
        w, h = img.size
        if max(w, h) < cfg.locate_from:
            return []
        eng = self.engine if isinstance(self.engine, RapidOcrEngine) else get_engine("rapidocr")
        boxes: list[tuple[Box, float]] = []
        for look in cfg.locate_looks:
            kind, _, scale = look.partition("_x")
            f = min(float(scale or 1), cfg.locate_up_side / max(w, h))
            if float(scale or 1) > 1 and f < 1.5:
                continue  # a zoomed look that locate_up_side would barely let zoom
            src = img if f <= 1.01 else img.resize((int(round(w * f)), int(round(h * f))), Image.BICUBIC)
            src = highpass_normalise(src) if kind == "highpass" else src
            side = max(src.size) if f > 1.01 else min(max(w, h), cfg.locate_side)
            boxes = [(b, sc) for b, sc in eng.detect(src, limit_side=side)  # type: ignore[attr-defined]
                     if sc >= cfg.locate_min_score]
            if boxes:
                break
        if not boxes:
            return []
        px = [(b[0] * w, b[1] * h, b[2] * w, b[3] * h, sc) for b, sc in boxes]
        if max(b[3] - b[1] for b in px) * cfg.locate_small > h:
            return []  # the text is large in the photo: the passes read it as it is
        # group boxes near each other (parts of one mark, a mark and its frame's neighbour)
        groups: list[list[float]] = []
        for x0, y0, x1, y1, sc in sorted(px, key=lambda b: b[0]):
            bh = y1 - y0
            for g in groups:
                gh = max(bh, g[3] - g[1])
                if x0 - 2.0 * gh <= g[2] and g[0] <= x1 + 2.0 * gh and y0 - 1.2 * gh <= g[3] and g[1] <= y1 + 1.2 * gh:
                    g[0], g[1], g[2], g[3] = min(g[0], x0), min(g[1], y0), max(g[2], x1), max(g[3], y1)
                    g[4] = max(g[4], sc)
                    g[5] = min(g[5], bh)
                    break
            else:
                groups.append([x0, y0, x1, y1, sc, bh])
        groups.sort(key=lambda g: -g[4] * (g[2] - g[0]))
        return [(g[0] / w, g[1] / h, g[2] / w, g[3] / h, g[5]) for g in groups[: cfg.locate_max]]  # type: ignore[misc]

    def _zoom_crop(self, img: Image.Image, group) -> tuple[Image.Image, Box]:
        """The group's region with a margin, scaled so its boxes are ~zoom_box_px high (bounded)."""
        cfg = self.config
        w, h = img.size
        x0, y0, x1, y1, line_h = group
        m = 0.8 * line_h
        box = (max(0, int(x0 * w - m)), max(0, int(y0 * h - m)), min(w, int(np.ceil(x1 * w + m))),
               min(h, int(np.ceil(y1 * h + m))))
        crop = img.crop(box)
        cw, ch = crop.size
        f = float(np.clip(cfg.zoom_box_px / max(1.0, line_h), 1.0, 4.0))
        f = min(f, cfg.max_side / max(cw, ch))
        if f > 1.01:
            crop = crop.resize((max(1, int(round(cw * f))), max(1, int(round(ch * f)))), Image.BICUBIC)
        return crop, (box[0] / w, box[1] / h, box[2] / w, box[3] / h)

    def read(self, image: Image.Image, *, force: bool = False, embedding: np.ndarray | None = None) -> list[TextFinding]:
        """Hallmarks and other text in ``image``.

        Unless ``force``: with ``embedding`` (the photo's) and a ``stamp_gate``, photos that
        are plainly not stamp close-ups (p < low) are not read, clear close-ups (p >= high)
        are read without the text-detector gate, and the rest go through that gate.
        """
        timings: dict[str, float] = {}
        self.last_timings = timings
        image = image.convert("RGB") if image.mode != "RGB" else image
        cfg = self.config
        if not force:
            g = self.decide(image, embedding)
            self.last_gate = g
            timings["gate_ms"] = g.ms
            if not g.passed:
                return []
        else:
            self.last_gate = None
        t0 = time.perf_counter()
        img, _ = scale_min_side(image, cfg.min_side, cfg.max_side)
        eng = self.engine
        self._set_detector()
        engine_id = self.engine_id
        findings: list[TextFinding] = []
        seen_raw: list[TextFinding] = []
        passes_run = 0
        # 1. locate, then zoom: where the text is small in a large photo, read the crops first.
        # On the photo at its own resolution (only brought down to max_side): the passes' copy
        # has its short side brought to min_side, which would shrink a tiny stamp away.
        regions = self._located(image)
        for crop, cbox in regions:
            found, n, _, _ = self._read_passes(crop, engine_id, seen_raw)
            passes_run += n + 1
            if found:
                findings += [self._in_box(f, cbox) for f in found]
                break
        # 2. the passes on the whole photo
        read_any = bool(seen_raw) or bool(findings)
        if not findings:
            findings, n, read_any2, _ = self._read_passes(img, engine_id, seen_raw)
            passes_run += n
            read_any = read_any or read_any2
        if not findings and self.config.lexicon_passes and isinstance(eng, RapidOcrEngine) and (read_any or force):
            findings = self._lexicon_read(img)
            passes_run += len(self.config.lexicon_passes)
        if self.recogniser is not None and (not findings or self._half_gold_pair(findings)):
            # 3. last resort: the stamp recogniser on each detected line, when no pass read a mark
            # or only half of a gold pair ("18K" of "18K 750": then only the other half is taken)
            for region, cbox in regions or [(img, (0.0, 0.0, 1.0, 1.0))]:
                hits = [self._in_box(f, cbox) for f in self._recogniser_read(region)]
                passes_run += 1
                if not findings:
                    findings = hits
                else:  # the other half only, and only one that agrees ("18K" + "750", never "18K" + "375")
                    kinds = {self._gold_kind(f) for f in findings}
                    findings += [h for h in hits if self._gold_kind(h) not in kinds | {None}
                                 and h.purity is not None and findings[0].purity is not None
                                 and abs(h.purity - findings[0].purity) < 0.01][:1]
                if findings and not self._half_gold_pair(findings):
                    break
        timings["ocr_ms"] = (time.perf_counter() - t0) * 1000
        timings["passes"] = float(passes_run)
        if findings:
            return findings
        # nothing parsed: keep the raw text of the first pass that read anything (deduplicated)
        out: list[TextFinding] = []
        for f in seen_raw:
            if f.raw not in {o.raw for o in out}:
                out.append(f)
        return sorted(out, key=lambda f: -f.score)[:10]

    def _set_detector(self) -> None:
        if isinstance(self.engine, RapidOcrEngine):
            self.engine.ocr.text_det.limit_side_len = self.config.det_limit
            self.engine.ocr.text_det.limit_type = "min"

    def _located(self, image: Image.Image) -> list[tuple[Image.Image, Box]]:
        """The zoomed crops of the text groups ``_locate`` finds (on the photo at its own size,
        only brought down to max_side), with their place in the photo."""
        cfg = self.config
        full = image
        if max(image.size) > cfg.max_side:
            f = cfg.max_side / max(image.size)
            full = image.resize((max(1, int(round(image.width * f))), max(1, int(round(image.height * f)))), Image.LANCZOS)
        return [self._zoom_crop(full, group) for group in self._locate(full)]

    def regions(self, image: Image.Image) -> list[tuple[Image.Image, Box]]:
        """Where the stamp recogniser looks for lines: the located crops, else the photo as the passes see it."""
        image = image.convert("RGB") if image.mode != "RGB" else image
        self._set_detector()
        return self._located(image) or [(scale_min_side(image, self.config.min_side, self.config.max_side)[0],
                                         (0.0, 0.0, 1.0, 1.0))]

    @staticmethod
    def _in_box(f: TextFinding, cbox: Box) -> TextFinding:
        """``f`` found in a crop whose place in the photo is ``cbox``, with its box in photo terms."""
        cx0, cy0, cx1, cy1 = cbox
        box = (cx0 + f.box[0] * (cx1 - cx0), cy0 + f.box[1] * (cy1 - cy0),
               cx0 + f.box[2] * (cx1 - cx0), cy0 + f.box[3] * (cy1 - cy0))
        return TextFinding(f.raw, f.normalised, box, f.score, f.engine, f.metal, f.purity)

    def line_crops(self, region: Image.Image) -> list[tuple[Image.Image, Box]]:
        """The text lines the detector finds in ``region`` (high-passed), left to right, each cut
        from the high-passed region with a margin, grey: what the stamp recogniser reads (and
        what ``training/train_stamp_reader.py`` trains it on)."""
        eng = self.engine if isinstance(self.engine, RapidOcrEngine) else get_engine("rapidocr")
        hp = highpass_normalise(region)
        w, h = region.size
        out = []
        for (x0, y0, x1, y1), _ in sorted(eng.detect(hp), key=lambda b: b[0][0]):  # type: ignore[attr-defined]
            pad = self.config.line_pad * (y1 - y0) * h
            px = (max(0, int(x0 * w - pad)), max(0, int(y0 * h - pad)), min(w, int(np.ceil(x1 * w + pad))),
                  min(h, int(np.ceil(y1 * h + pad))))
            if px[2] - px[0] >= 4 and px[3] - px[1] >= 4:
                out.append((hp.crop(px).convert("L"), (px[0] / w, px[1] / h, px[2] / w, px[3] / h)))
        return out

    def _recogniser_read(self, region: Image.Image) -> list[TextFinding]:
        """Marks the stamp recogniser reads on ``region``'s lines (boxes relative to the region)."""
        assert self.recogniser is not None
        crops = self.line_crops(region)
        if not crops:
            return []
        reads = self.recogniser.recognise([c for c, _ in crops])
        rid = f"{self.recogniser.name}@{self.recogniser.version}"
        hits: list[TextFinding] = []
        for (text, score), (_, box) in zip(reads, crops):
            if score < self.config.stamp_recogniser_min_score:
                continue
            marks = self._parse_marks(text)
            for hm, sub in zip(marks, self._split_box(box, text, marks)):
                if all(h.normalised != hm.mark for h in hits):
                    hits.append(TextFinding(text, hm.mark, sub, score, rid, hm.metal, hm.purity))
        if not hits and len(reads) > 1 and min(sc for _, sc in reads) >= self.config.stamp_recogniser_min_score:
            joined = " ".join(t for t, _ in reads)
            hm = parse_hallmark(joined)
            if hm is not None:
                boxes = [b for _, b in crops]
                box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
                hits.append(TextFinding(joined, hm.mark, box, min(sc for _, sc in reads), rid, hm.metal, hm.purity))
        return sorted(hits, key=lambda f: -f.score)

    def _read_passes(self, img: Image.Image, engine_id: str,
                     seen_raw: list[TextFinding]) -> tuple[list[TextFinding], int, bool, bool]:
        """The passes in order until one reads a mark: (findings, passes run, read anything, tall lines)."""
        cfg = self.config
        findings: list[TextFinding] = []
        passes_run = 0
        read_any = tall = False
        iw, ih = img.size
        for name in cfg.passes:
            if self._rotation(name) in (90, 270) and read_any and not tall:
                continue  # sideways passes only when nothing was read or the lines stand upright
            passes_run += 1
            lines = self._engine_read(self._variant(img, name))
            if not self._rotation(name):
                read_any = read_any or bool(lines)
                tall = tall or any((b[3] - b[1]) * ih > 1.5 * (b[2] - b[0]) * iw for _, b, _ in lines)
            hits = []
            for text, box, score in lines:
                box = self._unrotate(box, name)
                marks = self._parse_marks(text)
                if not marks:
                    seen_raw.append(TextFinding(text, "", box, score, engine_id))
                # a line may hold several marks ("18K 750"): one finding each
                for hm, sub in zip(marks, self._split_box(box, text, marks)):
                    if all(h.normalised != hm.mark for h in hits):
                        hits.append(TextFinding(text, hm.mark, sub, score, engine_id, hm.metal, hm.purity))
            if not hits and len(lines) > 1:
                # a mark split over two detected boxes ("S" "925", "950" "PLAT")
                joined = " ".join(t for t, _, _ in lines)
                hm = parse_hallmark(joined)
                if hm is not None:
                    boxes = [self._unrotate(b, name) for _, b, _ in lines]
                    box = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                           max(b[2] for b in boxes), max(b[3] for b in boxes))
                    score = float(min(s for _, _, s in lines))
                    hits.append(TextFinding(joined, hm.mark, box, score, engine_id, hm.metal, hm.purity))
            if hits and not findings:
                findings = hits
                if not self._half_gold_pair(findings):
                    break
                extra_left = cfg.pair_extra_passes
                continue
            if findings:
                # gold is often stamped as karat + fineness ("18K 750"): with one half read, a
                # couple more passes may find the other; only that other kind is added
                kinds = {self._gold_kind(f) for f in findings}
                for h in hits:
                    k = self._gold_kind(h)
                    if k is not None and k not in kinds and all(f.normalised != h.normalised for f in findings):
                        findings.append(h)
                        kinds.add(k)
                extra_left -= 1
                if not self._half_gold_pair(findings) or extra_left <= 0:
                    break
        return sorted(findings, key=lambda f: -f.score), passes_run, read_any, tall

    @staticmethod
    def _gold_kind(f: TextFinding) -> str | None:
        if f.metal != "gold" or not f.normalised:
            return None
        return "karat" if f.normalised.endswith("K") else ("fineness" if f.normalised.isdigit() else None)

    @classmethod
    def _half_gold_pair(cls, findings: list[TextFinding]) -> bool:
        kinds = {cls._gold_kind(f) for f in findings}
        return len(findings) == 1 and len(kinds - {None}) == 1

    def tags(self, findings: Sequence[TextFinding]) -> list[TagPrediction]:
        """``hallmark``/``metal``/``purity`` tags from the best finding that parsed (else [])."""
        for f in findings:
            if f.normalised:
                hm = parse_hallmark(f.raw) or self._parse_line(f.raw)
                if hm is not None:
                    rec = self.recogniser
                    if rec is not None and f.engine == f"{rec.name}@{rec.version}":
                        return hallmark_tags(hm, f.score, rec.name, rec.version)
                    return hallmark_tags(hm, f.score, self.engine.name, self.engine.version)
        return []
