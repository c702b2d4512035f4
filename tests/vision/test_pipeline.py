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
from jewel_vision.vision.models.type_classifier import TypeClassifier, save_head

from ._images import to_bytes

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]
VERSION_RE = r"p1\+effnet-lite0@imagenet\+type@[0-9a-f]{10}"


def test_run_returns_tags_and_embedding(pipeline, ring_jpeg):
    result = pipeline.run(ring_jpeg)
    assert isinstance(result, AnalysisResult)
    assert (result.width, result.height) == (320, 240)
    types = result.tags_for("type")
    assert types and all(t.facet == "type" for t in result.tags)
    assert types[0].confidence >= max(t.confidence for t in types)
    assert all(t.confidence >= pipeline.config.min_tag_confidence for t in types[1:])
    assert {t.value for t in types} <= {"bracelet", "earring", "necklace", "ring", "watch"}
    assert sum(t.confidence for t in types) <= 1.0 + 1e-5
    emb = result.embedding
    assert emb is not None and emb.vector.shape == (1280,) and emb.vector.dtype == np.float32
    assert abs(float(np.linalg.norm(emb.vector)) - 1.0) < 1e-5
    assert (emb.model, emb.model_version) == ("effnet-lite0", "imagenet")
    assert set(result.timings_ms) >= {"decode", "embedding", "type", "total"}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.model_versions["pipeline"] == "p1"
    assert result.model_versions["embedder"] == "effnet-lite0@imagenet"
    assert result.model_versions["type"].startswith("type@")
    assert result.detections == [] and result.regions == [] and result.texts == []


def test_result_to_dict_is_json(pipeline, ring_image):
    d = pipeline.run(ring_image).to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    assert len(back["embedding"]["vector"]) == 1280
    assert back["tags"][0]["facet"] == "type"


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
    assert p.model_versions["type"] == p.version.split("+")[-1]


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
    save_head(path, layers, shipped.classes, np.full(5, 0.9, np.float32), "effnet-lite4@something", {})
    p = Pipeline(PipelineConfig(device="cpu", type_head_path=str(path)))
    with pytest.raises(RuntimeError, match="retrain the head"):
        p.run(ring_image)


def test_custom_head_path(tmp_path, ring_image, pipeline):
    shipped = TypeClassifier()
    shipped.load()
    path = tmp_path / "copy.npz"
    version = save_head(path, shipped._layers, shipped.classes, shipped._thresholds, shipped.embedder, {})
    p = Pipeline(PipelineConfig(device="cpu", type_head_path=str(path)))
    p.embedder = pipeline.embedder  # same weights; skip loading the network again
    assert version == shipped.version and p.version == pipeline.version
    assert [t.value for t in p.run(ring_image).tags] == [t.value for t in pipeline.run(ring_image).tags]
