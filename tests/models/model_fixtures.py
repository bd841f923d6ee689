"""Builders shared by the models tests (importable from test modules, unlike conftest)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

from deepfake_detector.faces.crop import CropSpec
from deepfake_detector.models.checkpoints import HeadConfig, ModelConfig, save_checkpoint
from deepfake_detector.models.seed import SeedResNeXtLSTM
from deepfake_detector.models.sequence import SequenceClassifier

import video_factory


def face_crop(photo: np.ndarray, box: tuple[int, int, int, int], size: int, shift: int = 0):
    """A tight square-ish crop of the face box (as dlib gave the seed), moved by ``shift`` px."""
    x0, y0, x1, y1 = box
    crop = photo[y0 + shift : y1 + shift, x0 - shift : x1 - shift]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def clip_of_crops(size: int, count: int) -> list[np.ndarray]:
    """``count`` crops of two real faces, drifting a few pixels per frame like a tracked face."""
    photos = [
        (video_factory.astronaut(), video_factory.ASTRONAUT_FACE),
        (video_factory.grace_hopper(), video_factory.GRACE_HOPPER_FACE),
    ]
    crops = []
    for i in range(count):
        photo, box = photos[(i // 4) % 2]
        crops.append(face_crop(photo, box, size, shift=(i % 4) * 3))
    return crops


def random_seed_state_dict(seed: int = 1234) -> dict[str, torch.Tensor]:
    """Exactly the seed's 322 keys and shapes, random values scaled so that activations stay in a
    sane range and frames get visibly different logits (plain random init gives ~1e-3 logits, too
    small for a 1e-5 comparison to mean much)."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for k, v in SeedResNeXtLSTM().state_dict().items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(1000)
        elif v.ndim == 4:  # convolutions: He-normal on fan-in
            out[k] = torch.randn(v.shape, generator=g) * math.sqrt(2.0 / v[0].numel())
        elif k.endswith("running_mean"):
            out[k] = torch.randn(v.shape, generator=g) * 0.1
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) * 1.5 + 0.5
        elif k.endswith("bn3.weight"):  # keeps the residual sum from growing block after block
            out[k] = torch.rand(v.shape, generator=g) * 0.3 + 0.2
        elif k.startswith("model") and k.endswith("weight"):
            out[k] = torch.rand(v.shape, generator=g) * 0.5 + 0.5
        elif k.startswith("lstm"):
            out[k] = torch.randn(v.shape, generator=g) * 0.05
        else:  # BN biases, linear1
            out[k] = torch.randn(v.shape, generator=g) * 0.1
    return out


def sequence_network(seed: int = 0) -> SequenceClassifier:
    """Our sequence model (ResNeXt50 + BiLSTM), random but with heads scaled so that logits are of
    order 1 and differ between frames, which makes agreement tests meaningful."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SequenceClassifier("resnext50_32x4d", hidden=64).eval()
    with torch.no_grad():
        network.frame_head.weight.mul_(40.0)
        network.clip_head.weight.mul_(40.0)
    return network


def small_sequence_folder(folder: Path, seed: int) -> Path:
    """A small model folder (EfficientNet-Lite0 at 64 px, hidden 16) with its own weights: quick to
    export and time, and a key of its own in every cache."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SequenceClassifier("efficientnet_lite0", hidden=16).eval()
    config = ModelConfig(
        name=f"small-{seed}",
        backbone="efficientnet_lite0",
        head=HeadConfig(hidden=16),
        input_size=64,
        crop=CropSpec(size=64, margin=0.25, align=True),
        trained=False,
    )
    return save_checkpoint(network, config, folder)
