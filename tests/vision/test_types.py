"""Result types serialise to JSON."""

from __future__ import annotations

import base64
import json

import numpy as np

from jewel_vision.vision.types import (
    AnalysisResult,
    Detection,
    Embedding,
    ImageDecodeError,
    Region,
    TagPrediction,
    TextFinding,
)


def test_analysis_result_to_dict_round_trips_through_json():
    vec = np.arange(4, dtype=np.float32)
    vec /= np.linalg.norm(vec)
    result = AnalysisResult(
        tags=[TagPrediction("type", "ring", 0.9, "type", "abc", threshold=0.8), TagPrediction("metal", "gold", 0.6, "m", "1")],
        detections=[Detection("ring", (0.1, 0.2, 0.5, 0.6), 0.8, "det", "1")],
        regions=[Region("item", b"\x89PNG...", 0.25, "seg", "1")],
        texts=[TextFinding("750", "750", None, 0.7, "ocr", metal="gold", purity=0.75)],
        embedding=Embedding(vec, "effnet-lite0", "imagenet"),
        timings_ms={"decode": np.float64(1.5)},
        model_versions={"pipeline": "p1"},
        width=np.int64(320),
        height=240,
    )
    d = json.loads(json.dumps(result.to_dict()))
    assert d["tags"][0] == {
        "facet": "type", "value": "ring", "confidence": 0.9, "model": "type", "model_version": "abc", "threshold": 0.8,
    }
    assert d["tags"][1]["threshold"] is None
    assert d["detections"][0]["box"] == [0.1, 0.2, 0.5, 0.6]
    assert "mask_png_base64" not in d["regions"][0]
    assert d["texts"][0]["purity"] == 0.75 and d["texts"][0]["box"] is None
    assert np.allclose(d["embedding"]["vector"], vec)
    assert d["width"] == 320
    with_masks = result.to_dict(include_masks=True, include_embedding=False)
    assert base64.b64decode(with_masks["regions"][0]["mask_png_base64"]) == b"\x89PNG..."
    assert with_masks["embedding"] is None
    assert [t.value for t in result.tags_for("type")] == ["ring"]


def test_analysis_result_from_dict_reads_what_to_dict_wrote():
    result = AnalysisResult(
        tags=[TagPrediction("type", "ring", 0.9, "type", "abc", threshold=0.8),
              TagPrediction("colour", "red", 0.3, "colour-rules", "1.0", coverage=0.3)],
        detections=[Detection("ring", (0.1, 0.2, 0.5, 0.6), 0.8, "det", "1")],
        regions=[Region("item", b"\x89PNG...", 0.25, "seg", "1")],
        texts=[TextFinding("750", "750", (0.1, 0.1, 0.2, 0.2), 0.7, "ocr", metal="gold", purity=0.75)],
        embedding=Embedding(np.ones(4, np.float32) / 2, "effnet-lite0", "imagenet"),
        timings_ms={"decode": 1.5},
        model_versions={"pipeline": "p2"},
        width=320,
        height=240,
    )
    d = json.loads(json.dumps(result.to_dict(include_masks=True)))
    assert d["tags"][1]["coverage"] == 0.3 and "coverage" not in d["tags"][0]  # only measured tags carry it
    assert AnalysisResult.from_dict(d) == result
    # a result stored before colour tags carried their coverage still reads
    del d["tags"][1]["coverage"]
    assert AnalysisResult.from_dict(d).tags[1].coverage is None


def test_image_decode_error_is_value_error():
    assert issubclass(ImageDecodeError, ValueError)
    assert str(ImageDecodeError("empty file")) == "empty file"


def test_embedding_equality():
    a = Embedding(np.ones(3, np.float32), "m", "v")
    assert a == Embedding(np.ones(3, np.float32), "m", "v")
    assert a != Embedding(np.zeros(3, np.float32), "m", "v")
