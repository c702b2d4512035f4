"""The vision package must stay Django-free (and cheap) to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
import jewel_vision.vision
import jewel_vision.vision.pipeline, jewel_vision.vision.cli_tag, jewel_vision.vision.image_io
import jewel_vision.vision.predictors, jewel_vision.vision.predictors.embedder, jewel_vision.vision.predictors.type_classifier
bad = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
assert not bad, bad
assert "torch" not in sys.modules, "importing the vision package should not import torch"
print("ok")
"""


def test_import_does_not_import_django_or_torch():
    env_code = CODE
    out = subprocess.run([sys.executable, "-c", env_code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_training_modules_are_django_free():
    code = "import sys, jewel_vision.training.train_type, jewel_vision.training.common; assert 'django' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
