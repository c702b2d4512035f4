"""The packshot item mask: follows a piece on a plain background, refuses worn and busy photos.

Every image is drawn here (no dataset files)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from jewel_vision.vision.packshot_mask import PackshotParams, packshot_mask
from jewel_vision.vision.pipeline import Pipeline, PipelineConfig


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / max(1, int((a | b).sum()))


def gold_ring_on_gradient(size=(400, 320), shadow=True):
    """(image, truth, hole): a gold ring (thick ellipse with a hole) on an off-white gradient, a soft shadow below."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    top, bottom = np.array([246, 243, 236], np.float32), np.array([222, 218, 210], np.float32)
    t = (yy / h)[..., None]
    bg = top + t * (bottom - top) + 4.0 * (xx / w)[..., None]
    outer = (w * 0.28, h * 0.25, w * 0.72, h * 0.78)
    inner = (w * 0.37, h * 0.37, w * 0.63, h * 0.66)
    ring = Image.new("L", size, 0)
    d = ImageDraw.Draw(ring)
    d.ellipse(outer, fill=255)
    d.ellipse(inner, fill=0)
    truth = np.asarray(ring) > 127
    hole_img = Image.new("L", size, 0)
    ImageDraw.Draw(hole_img).ellipse(inner, fill=255)
    hole = np.asarray(hole_img) > 127
    if shadow:  # soft shadow cast down and right, darkening the background only
        sh = np.asarray(ring.transform(size, Image.Transform.AFFINE, (1, 0, -10, 0, 1, -14)).filter(ImageFilter.GaussianBlur(7)), np.float32) / 255
        bg = bg * (1 - 0.4 * sh[..., None])
    # metal: yellow gold with shading across the band and a specular highlight
    gold = np.array([212, 172, 60], np.float32) * (0.8 + 0.35 * (xx / w))[..., None]
    img = np.where(truth[..., None], gold, bg)
    hl = (np.hypot(xx - w * 0.36, yy - h * 0.33) < 5) & truth
    img[hl] = (255, 250, 235)
    rng = np.random.default_rng(0)
    img = img + rng.normal(0, 1.5, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), truth, hole


def hand_on_plain_background(size=(400, 300)):
    """A skin-coloured hand entering from the bottom edge, a ring on a finger, on a plain grey table."""
    img = Image.new("RGB", size, (200, 200, 205))
    d = ImageDraw.Draw(img)
    w, h = size
    skin = (224, 172, 140)
    d.rectangle((w * 0.3, h * 0.55, w * 0.7, h), fill=skin)  # palm and wrist, off the frame
    for k in range(4):
        x = w * (0.32 + 0.1 * k)
        d.rounded_rectangle((x, h * 0.15, x + w * 0.07, h * 0.6), radius=10, fill=skin)
    d.ellipse((w * 0.41, h * 0.35, w * 0.5, h * 0.42), outline=(212, 175, 55), width=5)
    return img


def busy_scene(size=(400, 300)):
    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, size=(size[1] // 20, size[0] // 20, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)
    d = ImageDraw.Draw(img)
    d.ellipse((150, 100, 250, 200), outline=(212, 175, 55), width=12)
    return img


def test_gold_ring_on_gradient_with_shadow_is_followed_and_its_hole_stays_out():
    img, truth, hole = gold_ring_on_gradient()
    found = packshot_mask(img)
    assert found.plain and found.reason == "ok" and found.mask is not None
    assert found.mask.shape == truth.shape
    assert _iou(found.mask, truth) >= 0.8
    inside = ndimage.binary_erosion(hole, iterations=3)  # the hole, away from its edge
    assert found.mask[inside].mean() < 0.02  # the middle of the ring shows background: not the piece
    below = np.zeros_like(truth)
    below[int(truth.shape[0] * 0.8):] = True  # where the shadow falls, below the ring
    assert found.mask[below].mean() < 0.05


@pytest.mark.parametrize("bg", [(250, 250, 250), (30, 30, 34), (200, 214, 230)])
def test_flat_backgrounds_of_any_colour(bg):
    from ._images import draw_ring

    img = draw_ring(size=(320, 240), bg=bg)
    found = packshot_mask(img)
    assert found.mask is not None
    truth = np.any(np.abs(np.asarray(img, np.int16) - np.array(bg, np.int16)) > 20, axis=2)
    assert _iou(found.mask, truth) >= 0.8


def test_a_large_photo_is_masked_at_its_own_size():
    img, truth, _ = gold_ring_on_gradient(size=(1200, 960), shadow=False)
    found = packshot_mask(img)
    assert found.mask is not None and found.mask.shape == (960, 1200)
    assert _iou(found.mask, truth) >= 0.8


def test_worn_and_busy_photos_are_not_packshots():
    hand = packshot_mask(hand_on_plain_background())
    assert hand.mask is None and hand.reason in ("touches the border", "busy background")
    busy = packshot_mask(busy_scene())
    assert busy.mask is None and not busy.plain
    empty = packshot_mask(Image.new("RGB", (200, 150), (240, 240, 240)))
    assert empty.mask is None and empty.plain


def test_params_change_the_result():
    img, truth, _ = gold_ring_on_gradient()
    strict = packshot_mask(img, PackshotParams(max_border_spread=0.01))
    assert strict.mask is None and strict.reason == "busy background"


def test_pipeline_stores_the_packshot_mask(pipeline):
    img, truth, hole = gold_ring_on_gradient()
    result = pipeline.run(img)
    item = next(r for r in result.regions if r.label == "item")
    assert item.model == "packshot-mask"
    mask = np.asarray(Image.open(__import__("io").BytesIO(item.mask_png))) > 0
    assert mask.shape == truth.shape and _iou(mask, truth) >= 0.8
    assert mask[ndimage.binary_erosion(hole, iterations=3)].mean() < 0.02
    assert "packshot_mask" in result.timings_ms
    assert result.model_versions["packshot_mask"].startswith("packshot-mask@")
    assert result.tags_for("metal_tone")[0].value == "yellow"


def test_pipeline_option_off_keeps_the_detector_mask(pipeline):
    img, _, _ = gold_ring_on_gradient()
    p = Pipeline(PipelineConfig(device="cpu", packshot_mask=False, ocr_engine=None, stones=False))
    p.embedder, p.detector = pipeline.embedder, pipeline.detector
    result = p.run(img)
    items = [r for r in result.regions if r.label == "item"]
    assert all(r.model == "jewelry-detector" for r in items)
    assert "packshot_mask" not in result.timings_ms and "packshot_mask" not in result.model_versions
    assert p.version != Pipeline(PipelineConfig(device="cpu", ocr_engine=None, stones=False)).version


def test_pipeline_worn_photo_keeps_the_detector_path(pipeline):
    result = pipeline.run(hand_on_plain_background())
    assert all(r.model != "packshot-mask" for r in result.regions)
