"""Grad-CAM heatmaps over face crops: which parts of each crop pushed the score towards FAKE.

Gradients of the fake logit with respect to the last backbone stage (``layer4`` for ResNeXt) weight
that stage's activation maps; the weighted sum, rectified and upsampled, is the heatmap. Only the
torch network can give gradients, so a classifier on another backend borrows a CPU torch copy of
its model (loaded once, on first use).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.models.runtime import BaseClassifier, TorchClassifier, preprocess

_LOCK = threading.Lock()  # hooks go on shared modules: one explanation at a time
_BORROWED: dict[int, TorchClassifier] = {}


def gradcam(network: nn.Module, frames: torch.Tensor, target: str = "frame") -> np.ndarray:
    """``frames (1, T, 3, H, W)`` preprocessed → ``(T, H, W)`` float32 heatmaps in [0, 1].

    ``target="frame"``: each crop is explained by its own fake logit (crops are independent up to
    the frame head, so one backward pass serves all of them). ``target="clip"``: by the clip logit,
    showing what in each crop drove the clip's score (sequence models)."""
    if target not in ("frame", "clip"):
        raise ModelError(f"unknown Grad-CAM target {target!r}: use frame or clip")
    layer = network.cam_layer()
    captured: list[torch.Tensor] = []
    with _LOCK, torch.inference_mode(False), torch.enable_grad():
        handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            clip_logit, frame_logits = network.scores(frames.detach().clone())
        finally:
            handle.remove()
        score = frame_logits.sum() if target == "frame" else clip_logit.sum()
        (activation,) = captured
        (grad,) = torch.autograd.grad(score, activation)
    weights = grad.float().mean(dim=(2, 3), keepdim=True)  # (B*T, C, 1, 1)
    cam = torch.relu((weights * activation.detach().float()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=frames.shape[-2:], mode="bilinear", align_corners=False)
    cam = cam[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp(min=1e-12)[:, None, None]
    return (cam / peak).clamp(0.0, 1.0).cpu().numpy().astype(np.float32)


def _torch_for(classifier: BaseClassifier) -> TorchClassifier:
    if isinstance(classifier, TorchClassifier):
        return classifier
    # Other backends borrow a torch copy; so does a BatchingClassifier, on its own device: its
    # scoring thread may run the shared network at any moment, and the Grad-CAM hook would
    # catch those activations too.
    device = classifier.device if classifier.backend == "torch" else "cpu"
    with _LOCK:
        borrowed = _BORROWED.get(id(classifier))
        if borrowed is None:
            borrowed = TorchClassifier(classifier.resolved, device, "fp32")
            _BORROWED[id(classifier)] = borrowed
        return borrowed


def heatmaps(
    classifier: BaseClassifier, crops: Sequence[np.ndarray], target: str = "frame"
) -> np.ndarray:
    """Per-crop Grad-CAM heatmaps ``(T, S, S)`` float32 in [0, 1], at the model's input size
    (the crop size the pipeline produces), for any classifier made by ``load_classifier``."""
    if not isinstance(classifier, BaseClassifier):
        raise ModelError("heatmaps need a classifier created by load_classifier")
    torch_classifier = _torch_for(classifier)
    x = preprocess(crops, classifier.config)
    n_chunks = math.ceil(len(x) / classifier.config.max_frames)  # as score_clip chunks
    maps = [
        gradcam(torch_classifier.network, torch_classifier.to_tensor(chunk[None]), target)
        for chunk in np.array_split(x, n_chunks)
    ]
    return np.concatenate(maps)
