"""The original project's ResNeXt50 + LSTM, reproduced exactly so that its ``.pt`` checkpoints load
and give the outputs they gave there.

Its quirk, kept on purpose: ``nn.LSTM(2048, 2048, 1, False)`` passes ``False`` as ``bias`` (the
author meant ``bidirectional``) and leaves ``batch_first=False``. A ``(B, T, ...)`` input is thus
read as ``T`` independent sequences of length ``B``; with one clip per call every frame is its own
one-step sequence, and the shipped output (``x_lstm[:, -1, :]``) is the last frame's alone.

Index 0 of the two logits is FAKE, index 1 REAL, so the fake logit is ``l0 - l1`` and
``sigmoid(l0 - l1) == softmax(l)[0]``.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.models.backbones import resnext50_32x4d

SEED_ARCHITECTURE = "seed-resnext50-lstm"
SEED_KEY_COUNT = 322
SEED_INPUT_SIZE = 112
SEED_MAX_FRAMES = 100
"""The longest sequence the seed shipped a checkpoint for (frames are independent anyway)."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SeedResNeXtLSTM(nn.Module):
    """The seed network with its original attribute names (``model.0`` … ``model.7``, ``lstm``,
    ``linear1``), so its state dicts load with a strict key check."""

    def __init__(self) -> None:
        super().__init__()
        self.model = nn.Sequential(*resnext50_32x4d().children())
        # The fourth positional argument is `bias`: no LSTM biases, batch_first=False (as shipped).
        self.lstm = nn.LSTM(2048, 2048, 1, False)
        self.relu = nn.LeakyReLU()  # present in the original, never used
        self.dp = nn.Dropout(0.4)
        self.linear1 = nn.Linear(2048, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The original forward, line for line: ``(B, T, 3, H, W)`` → ``(fmap, logits (B, 2))``.
        Callers softmax the logits; index 0 = FAKE."""
        batch_size, seq_length, c, h, w = x.shape
        x = x.view(batch_size * seq_length, c, h, w)
        fmap = self.model(x)
        x = self.avgpool(fmap)
        x = x.view(batch_size, seq_length, 2048)
        x_lstm, _ = self.lstm(x, None)
        return fmap, self.dp(self.linear1(x_lstm[:, -1, :]))

    def frame_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, H, W)`` → ``(B, T, 2)``: each frame through the LSTM as a one-step sequence,
        which is what the original computes for every frame of a single clip."""
        b, t = x.shape[0], x.shape[1]
        feats = self.avgpool(self.model(x.flatten(0, 1))).flatten(1)  # (B*T, 2048)
        x_lstm, _ = self.lstm(feats.unsqueeze(0), None)  # sequence length 1, batch B*T
        return self.linear1(x_lstm[0]).unflatten(0, (b, t))

    def scores(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The common scoring interface: ``(clip fake logit (B,), frame fake logits (B, T))``.

        The clip logit is the last frame's, i.e. exactly the shipped output for one clip; the
        runtime may reduce the frame logits differently (see ``ModelConfig.clip_reduction``)."""
        logits = self.frame_logits(x)
        fake = logits[..., 0] - logits[..., 1]
        return fake[:, -1], fake

    def cam_layer(self) -> nn.Module:
        """The last backbone stage (torchvision's ``layer4``), explained by Grad-CAM."""
        return self.model[7]


def _unwrap_state_dict(obj: object) -> Mapping[str, object]:
    """Accept what users actually have: a plain state dict, one wrapped under ``state_dict`` /
    ``model_state_dict`` (training checkpoints), with or without DataParallel's ``module.``."""
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model_state_dict"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj:
        raise ModelError("the file holds no state dict (expected the tensors of the seed model)")
    if all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _check_seed_keys(state: Mapping[str, object], reference: Mapping[str, torch.Tensor]) -> None:
    """Strict key and shape check with a message that says what kind of file this really is."""
    if any(k.startswith("lstm.bias_") for k in state):
        raise ModelError(
            "the checkpoint's LSTM has bias tensors (lstm.bias_ih_l0 ...), but the seed model's "
            "LSTM has none (it was built as nn.LSTM(2048, 2048, 1, False), i.e. bias=False): "
            "this is a different architecture, not a seed checkpoint"
        )
    missing = [k for k in reference if k not in state]
    unexpected = [k for k in state if k not in reference]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise ModelError(
            f"not a seed ResNeXt50-LSTM checkpoint: keys differ, {'; '.join(parts)} "
            f"(a seed checkpoint has exactly {SEED_KEY_COUNT} keys)"
        )
    for k, ref in reference.items():
        value = state[k]
        if not isinstance(value, torch.Tensor):
            raise ModelError(f"checkpoint entry {k!r} is not a tensor")
        if tuple(value.shape) != tuple(ref.shape):
            raise ModelError(
                f"checkpoint tensor {k!r} has shape {tuple(value.shape)}, "
                f"the seed model needs {tuple(ref.shape)}"
            )


def load_seed_state_dict(path: str | Path) -> dict[str, object]:
    """Read a seed ``.pt``/``.pth`` file safely (``weights_only=True``: no pickled code runs)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ModelError(f"model file is empty: {path}")
    try:
        with warnings.catch_warnings():  # e.g. "pickle protocol 4": noise to a user
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if refused:
            raise ModelError(
                f"refused to load {path.name}: it contains a pickled Python object "
                f"({refused.group(1)}), not just tensors, and loading it could run arbitrary "
                "code. Save the model's state_dict() instead of the whole model or object."
            ) from None
        raise ModelError(f"{path.name} is not a PyTorch checkpoint (unreadable pickle)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint ({exc})") from None
    return dict(_unwrap_state_dict(obj))


def load_seed_model(path: str | Path) -> SeedResNeXtLSTM:
    """Build the seed network and load an original checkpoint into it (strict), in eval mode."""
    model = SeedResNeXtLSTM()
    state = load_seed_state_dict(path)
    _check_seed_keys(state, model.state_dict())
    # Half-precision copies of the checkpoint exist in the wild: upcast, the network runs in fp32.
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()
