"""Pipeline: tags + embedding per image, stable version, lazy models, per-item errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jewel_vision.vision import (
    AnalysisResult,
    ImageDecodeError,
    Pipeline,
    PipelineConfig,
    clear_pipeline_cache,
    get_pipeline,
)
from jewel_vision.vision.predictors.embedding_head import save_head
from jewel_vision.vision.predictors.type_classifier import TypeClassifier

from ._images import to_bytes

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
VERSION_RE = r"p2\+effnet-lite0@imagenet\+type@[0-9a-f]{10}\+[0-9a-f]{10}"
TYPES = {"bracelet", "earring", "necklace", "ring", "watch"}


def test_run_returns_every_stage(pipeline, ring_jpeg):
    result = pipeline.run(ring_jpeg)
    assert isinstance(result, AnalysisResult)
    assert (result.width, result.height) == (320, 240)
    types = result.tags_for("type")
    assert types[0].confidence >= max(t.confidence for t in types)
    assert all(t.confidence >= pipeline.config.min_tag_confidence for t in types[1:])
    assert {t.value for t in types} <= TYPES
    assert sum(t.confidence for t in types) <= 1.0 + 1e-5
    assert all(t.threshold is not None and 0 < t.threshold <= 1 for t in types)  # per-label, stored with the head
    # the drawn ring is yellow metal with a red stone on white
    assert result.tags_for("metal_tone")[0].value == "yellow"
    assert {t.facet for t in result.tags} >= {"type", "metal_tone", "colour", "stone", "shape", "texture"}
    pieces = [d for d in result.detections if d.model == "jewelry-detector"]
    assert pieces and all(d.label in TYPES for d in pieces)
    assert all(0 <= d.box[0] < d.box[2] <= 1 and 0 <= d.box[1] < d.box[3] <= 1 for d in result.detections)
    labels = {r.label for r in result.regions}
    assert {"item", "metal"} <= labels
    item = next(r for r in result.regions if r.label == "item")
    assert 0.01 < item.area_fraction < 0.9 and item.mask_png.startswith(b"\x89PNG")
    assert result.texts == []  # the OCR gate sees no stamp on a packshot
    emb = result.embedding
    assert emb is not None and emb.vector.shape == (1280,) and emb.vector.dtype == np.float32
    assert abs(float(np.linalg.norm(emb.vector)) - 1.0) < 1e-5
    assert (emb.model, emb.model_version) == ("effnet-lite0", "imagenet")
    assert set(result.timings_ms) >= {"decode", "detect", "embedding", "heads", "attributes", "stones", "ocr", "total"}
    assert all(v >= 0 for v in result.timings_ms.values())
    versions = result.model_versions
    assert versions["pipeline"] == "p2" and versions["embedder"] == "effnet-lite0@imagenet"
    assert versions["type"].startswith("type@") and versions["detector"].startswith("jewelry-detector@")
    assert versions["ocr"].startswith("rapidocr@") and versions["stones"].startswith("stones@")
    assert versions["stamp_recogniser"].startswith("stamp-crnn@")  # new weights -> a new pipeline version
    assert versions["hallmark_reader"].startswith("reader@")  # new reading rules -> a new pipeline version


def _scene(ring_image, colour):
    from PIL import Image

    rng = np.random.default_rng(1)
    base = np.array(colour, dtype=np.int16) + rng.integers(-12, 13, size=(900, 1200, 3))
    canvas = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    canvas.paste(ring_image.resize((160, 120)), (700, 500))
    return canvas


def test_worn_piece_is_cropped_before_classifying(pipeline, ring_image):
    """A ring small in a photo of skin (worn) is classified on a crop around it."""
    canvas = _scene(ring_image, (224, 172, 140))
    view, box = pipeline._view(canvas, pipeline.detector.detect([canvas])[0])
    assert box is not None, "the ring should have been found and cropped to"
    assert view.size[0] < canvas.size[0] / 2
    cx, cy = (box[0] + box[2]) / 2 * 1200, (box[1] + box[3]) / 2 * 900
    assert 700 <= cx <= 860 and 500 <= cy <= 620


def test_a_worn_piece_that_is_the_view_is_embedded_once(pipeline, ring_image, monkeypatch):
    """Worn, one confident piece: the crop around it is the view, so its embedding and type are
    the view's (one embedding, not two), and the result is what a second embedding gives."""
    canvas = _scene(ring_image, (224, 172, 140))
    items = pipeline.detector.detect([canvas])[0]
    _, box = pipeline._view(canvas, items)
    confident = [it for it in items if it.score >= pipeline.config.crop_min_score]
    assert box is not None and len(confident) == 1, "a worn photo with one confident piece"
    embedded = []
    real_embed = pipeline.embedder.embed
    monkeypatch.setattr(pipeline.embedder, "embed", lambda images: embedded.append(len(images)) or real_embed(images))
    result = pipeline.run(canvas)
    classified = pipeline._pieces_to_classify(items, worn=True)
    assert confident[0] in [items[j] for j in classified]
    assert sum(embedded) == len(classified), embedded  # the view, and the pieces other than the view's
    ring = [d for d in result.detections if d.model == "jewelry-detector"][0]
    view_type = [t for t in result.tags if t.facet == "type"][0]
    assert ring.label == view_type.value


def test_packshot_is_classified_whole(pipeline, ring_image):
    """The same small ring on a grey studio background is not cropped (no skin around it)."""
    canvas = _scene(ring_image, (128, 128, 128))
    items = pipeline.detector.detect([canvas])[0]
    assert items, "the ring should still be detected"
    view, box = pipeline._view(canvas, items)
    assert box is None and view is canvas


def test_hallmark_in_photo_becomes_metal_and_purity_tags(pipeline):
    from jewel_vision.vision.stamps import render_stamp

    img = render_stamp("S925", style="debossed", metal="white", curved=True, size_px=22, blur=0.6, seed=101)
    result = pipeline.run(img)
    assert [t.normalised for t in result.texts][:1] == ["S925"]
    tags = {(t.facet, t.value) for t in result.tags}
    assert {("hallmark", "S925"), ("metal", "silver"), ("purity", "0.925")} <= tags, tags


def test_taught_facet_heads_are_picked_up(tmp_path, ring_image, pipeline):
    """A head written into facet_heads_dir is applied without a restart and changes the version."""
    heads = tmp_path / "heads"
    p = Pipeline(PipelineConfig(device="cpu", facet_heads_dir=str(heads), detector=False, attributes=False,
                                stones=False, ocr_engine=None))
    p.embedder = pipeline.embedder
    before = p.version
    assert not p.run(ring_image).tags_for("style")
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 1280)).astype(np.float32)
    save_head(heads / "style.npz", [(w, np.zeros(2, np.float32))], ["minimalist", "vintage"],
              np.array([0.7, 0.8], np.float32), p.embedder.full_name, {})
    style = p.run(ring_image).tags_for("style")
    assert {t.value for t in style} == {"minimalist", "vintage"} and style[0].model == "facet-style"
    assert style[0].threshold in (pytest.approx(0.7), pytest.approx(0.8))
    assert p.version != before and "facet:style" in p.model_versions


def test_a_shops_adapted_type_head_replaces_the_built_in_one(tmp_path, ring_image, pipeline):
    """type.npz in facet_heads_dir (jewel-vision train facet type) is the type head, without a restart;
    it is not a facet head, it re-versions the pipeline, and removing it brings the built-in head back."""
    heads = tmp_path / "heads"
    p = Pipeline(PipelineConfig(device="cpu", facet_heads_dir=str(heads), detector=False, attributes=False,
                                stones=False, ocr_engine=None))
    p.embedder = pipeline.embedder
    before, built_in = p.version, p.type_classifier.version
    assert p.run(ring_image).tags_for("type")[0].value != "watch"
    shipped = TypeClassifier()
    layers = shipped.layers
    layers[-1][1][shipped.classes.index("watch")] += 50.0  # an adaptation that says "watch" for everything
    version = save_head(heads / "type.npz", layers, shipped.classes,
                        np.array([shipped.thresholds[c] for c in shipped.classes], np.float32), shipped.embedder_name, {})
    types = p.run(ring_image).tags_for("type")
    assert types[0].value == "watch" and types[0].model_version == version
    assert p.type_classifier.version == version != built_in and p.model_versions["type"] == f"type@{version}"
    assert p.version != before and not p.facet_heads and "facet:type" not in p.model_versions
    (heads / "type.npz").unlink()
    assert p.type_classifier.version == built_in and p.version == before
    assert p.run(ring_image).tags_for("type")[0].value != "watch"


def test_stage_switches(ring_image, pipeline):
    p = Pipeline(PipelineConfig(device="cpu", detector=False, attributes=False, stones=False, ocr_engine=None))
    p.embedder = pipeline.embedder
    result = p.run(ring_image)
    assert {t.facet for t in result.tags} == {"type"}
    assert result.detections == [] and result.regions == [] and result.texts == []
    with pytest.raises(ValueError, match="item_mask"):
        Pipeline(PipelineConfig(item_mask="grabcut"))
    with pytest.raises(ValueError, match="ocr_engine"):
        Pipeline(PipelineConfig(ocr_engine="tesseract"))


def test_version_needs_no_torch():
    """The web process computes the version on every upload; it must not load torch or OCR."""
    code = (
        "import sys; from jewel_vision.vision import Pipeline; Pipeline().version; "
        "print(sorted(m for m in ('torch', 'onnxruntime', 'cv2', 'easyocr') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_result_to_dict_is_json(pipeline, ring_image):
    d = pipeline.run(ring_image).to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    assert len(back["embedding"]["vector"]) == 1280
    assert {t["facet"] for t in back["tags"]} >= {"type", "metal_tone"}
    assert back["detections"] and back["regions"] and "mask_png_base64" not in back["regions"][0]


def test_same_image_any_source_same_result(pipeline, ring_image, tmp_path):
    data = to_bytes(ring_image, "PNG")
    path = tmp_path / "ring.png"
    path.write_bytes(data)
    results = [pipeline.run(x) for x in (data, str(path), ring_image)]  # file objects: see test_image_io
    for r in results[1:]:
        assert np.allclose(r.embedding.vector, results[0].embedding.vector, atol=1e-6)
        assert [t.value for t in r.tags] == [t.value for t in results[0].tags]


def test_run_batch_matches_run(pipeline, ring_image, necklace_image):
    batch = pipeline.run_batch([ring_image, necklace_image])
    single = pipeline.run(necklace_image)
    assert len(batch) == 2
    assert np.allclose(batch[1].embedding.vector, single.embedding.vector, atol=1e-5)


def test_bad_image_raises(pipeline):
    with pytest.raises(ImageDecodeError, match="not an image"):
        pipeline.run(b"definitely not a photo")
    with pytest.raises(ImageDecodeError, match="empty file"):
        pipeline.run_batch([b"", b"x"])


def test_run_batch_return_exceptions(pipeline, ring_jpeg):
    out = pipeline.run_batch([ring_jpeg, b"", ring_jpeg[:200]], return_exceptions=True)
    assert isinstance(out[0], AnalysisResult)
    assert isinstance(out[1], ImageDecodeError) and str(out[1]) == "empty file"
    assert isinstance(out[2], ImageDecodeError)
    assert pipeline.run_batch([b""], return_exceptions=True)[0].args == ("empty file",)
    assert pipeline.run_batch([]) == []


def test_limits_come_from_config(ring_image, pipeline):
    p = Pipeline(PipelineConfig(device="cpu", max_side=100, max_pixels=10**6))
    p.embedder = pipeline.embedder  # same weights; skip loading the network again
    result = p.run(ring_image)
    assert max(result.width, result.height) == 100
    with pytest.raises(ImageDecodeError, match="exceeds limit 1000000"):
        p.run(to_bytes(ring_image.resize((1200, 900)), "PNG"))


def test_version_format_and_lazy_models():
    p = Pipeline(PipelineConfig(device="cpu"))
    assert re.fullmatch(VERSION_RE, p.version)
    assert not p.embedder.loaded  # neither construction nor .version loads the network
    assert p.model_versions["type"] == p.version.split("+")[2]


def test_version_is_stable_across_processes(pipeline):
    code = "from jewel_vision.vision import Pipeline; print(Pipeline().version)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == pipeline.version


def test_get_pipeline_caches_per_config():
    clear_pipeline_cache()
    a = get_pipeline()
    assert get_pipeline() is a and get_pipeline(PipelineConfig()) is a
    b = get_pipeline(PipelineConfig(device="cpu", max_side=800))
    assert b is not a and get_pipeline(PipelineConfig(device="cpu", max_side=800)) is b
    clear_pipeline_cache()
    assert get_pipeline() is not a
    clear_pipeline_cache()


def test_incompatible_head_is_refused(tmp_path, ring_image):
    shipped = TypeClassifier()
    shipped.load()
    layers = shipped._layers
    path = tmp_path / "other.npz"
    save_head(path, layers, shipped.classes, np.full(len(shipped.classes), 0.9, np.float32), "effnet-lite4@something", {})
    p = Pipeline(PipelineConfig(device="cpu", type_head_path=str(path)))
    with pytest.raises(RuntimeError, match="retrain the head"):
        p.run(ring_image)


def test_custom_head_path(tmp_path, ring_image, pipeline):
    shipped = TypeClassifier()
    shipped.load()
    path = tmp_path / "copy.npz"
    version = save_head(path, shipped._layers, shipped.classes, shipped._thresholds, shipped.embedder_name, {})
    p = Pipeline(PipelineConfig(device="cpu", type_head_path=str(path)))
    p.embedder = pipeline.embedder  # same weights; skip loading the network again
    assert version == shipped.version and p.version == pipeline.version
    assert [t.value for t in p.run(ring_image).tags] == [t.value for t in pipeline.run(ring_image).tags]


def _piece(score, area, side=100):
    from jewel_vision.vision.predictors.detector import DetectedItem

    mask = np.zeros((side, side), bool)
    mask.flat[: int(area * side * side)] = True
    return DetectedItem(box=(0.1, 0.1, 0.2, 0.2), score=score, mask=mask)


def test_only_pieces_of_a_set_are_classified_one_by_one():
    p = Pipeline(PipelineConfig(device="cpu"))
    pair = [_piece(0.95, 0.05), _piece(0.94, 0.04)]
    assert p._pieces_to_classify(pair) == []  # a pair: same size, the photo's type
    necklace_set = [_piece(0.95, 0.02), _piece(0.93, 0.20), _piece(0.9, 0.03)]
    # very different sizes: the largest piece and the largest of the small ones, each alone...
    assert p._pieces_to_classify(necklace_set) == [1, 2]
    assert p._pieces_to_classify(necklace_set, photo_confidence=0.5) == [1, 2]
    # ...unless the photo's type is certain: fragments of one piece, not a set
    assert p._pieces_to_classify(necklace_set, photo_confidence=0.95) == []
    # the other earring of the set takes the type of the classified piece nearest in size
    labels = p._piece_labels(necklace_set, ("necklace", 0.9), {1: ("necklace", 0.8), 2: ("earring", 0.7)})
    assert labels == [("earring", 0.7), ("necklace", 0.8), ("earring", 0.7)]
    assert p._pieces_to_classify([_piece(0.95, 0.02), _piece(0.5, 0.3)]) == []  # unsure pieces do not count
    assert p._pieces_to_classify([_piece(0.95, 0.3), _piece(0.95, 0.002)]) == []  # nor do fragments
    many = [_piece(0.95, 0.3)] + [_piece(0.9, 0.02) for _ in range(8)]
    assert p._pieces_to_classify(many) == [0, 1]
    labels = p._piece_labels(many + [_piece(0.4, 0.02)], ("ring", 0.6), {0: ("necklace", 0.9), 1: ("earring", 0.8)})
    assert labels == [("necklace", 0.9)] + [("earring", 0.8)] * 8 + [("ring", 0.6)]  # an unsure piece: the photo's
    # worn jewelry: every piece on its own crop, most confident first, up to max_worn_pieces
    worn = [_piece(0.7, 0.01), _piece(0.95, 0.01), _piece(0.8, 0.3)] + [_piece(0.65, 0.01)] * 3
    assert p._pieces_to_classify(worn, worn=True) == [1, 2, 0, 3]


def test_detection_score_is_jewelry_times_type_confidence(pipeline, ring_image):
    items = [it for it in pipeline.detector.detect([ring_image])[0] if it.area_fraction >= pipeline.config.min_piece_area]
    result = pipeline.run(ring_image)
    top = result.tags_for("type")[0]
    pieces = result.pieces()
    assert len(pieces) == len(items) > 0
    for det, item in zip(pieces, items):  # a packshot: every piece takes the photo's type
        assert det.label == top.value
        assert det.score == pytest.approx(item.score * top.confidence, rel=1e-5)


def test_u2netp_item_mask_when_configured(ring_image, pipeline):
    p = Pipeline(PipelineConfig(device="cpu", item_mask="u2netp", ocr_engine=None, stones=False))
    p.embedder, p.detector = pipeline.embedder, pipeline.detector
    result = p.run(ring_image)
    item = next(r for r in result.regions if r.label == "item")
    assert item.model == "u2netp" and 0.01 < item.area_fraction < 0.9
    assert "segment" in result.timings_ms and result.model_versions["segmenter"].startswith("u2netp@")
    assert result.tags_for("metal_tone")[0].value == "yellow"


def test_version_follows_the_settings_that_change_results():
    base = Pipeline(PipelineConfig(device="cpu"))
    same = [PipelineConfig(device="cuda"), PipelineConfig(device="cpu", batch_size=4)]
    changed = [PipelineConfig(device="cpu", crop_min_score=0.7), PipelineConfig(device="cpu", max_side=1200),
               PipelineConfig(device="cpu", type_labels={"pendant": "necklace"})]
    assert all(Pipeline(c).version == base.version for c in same)
    versions = {Pipeline(c).version for c in changed}
    assert len(versions) == len(changed) and base.version not in versions
    # a dict of merges is stored as sorted pairs: the config stays hashable (the per-process cache key)
    cfg = PipelineConfig(type_labels={"b": "x", "a": "y"})
    assert cfg.type_labels == (("a", "y"), ("b", "x")) and hash(cfg) == hash(PipelineConfig(type_labels=[("b", "x"), ("a", "y")]))


def test_a_photo_of_nothing_gets_no_tags(pipeline):
    """A blank upload once came back as necklace 0.98 and metal_tone white 0.99."""
    from PIL import Image

    for colour in ((255, 255, 255), (40, 40, 45), (200, 180, 50)):
        result = pipeline.run(Image.new("RGB", (64, 64), colour))
        assert result.tags == [] and result.detections == [] and result.regions == []
        assert result.embedding is not None
