"""The original project's prediction path, re-created faithfully as the benchmark's baseline.

The seed (Flask project "Deepfake_detection_using_deep_learning") did, per uploaded video:

1. build ``Model(2)`` (torchvision ResNeXt50_32x4d + ``nn.LSTM(2048, 2048, 1, False)`` + linear)
   and ``torch.load`` the checkpoint from disk: the model was rebuilt for every request;
2. read the video with ``cv2.VideoCapture``, decoding *every* frame into a list (BGR, never
   converted to RGB);
3. for the first N frames, ``face_recognition.face_locations(frame)``: dlib's HOG detector at full
   resolution with one upsampling, crop the first face tight (no margin), or keep the whole frame
   when none was found;
4. ``ToPILImage → Resize((112, 112)) → ToTensor → Normalize(ImageNet)`` on each crop;
5. one eager fp32 forward over ``(1, N, 3, 112, 112)``, softmax, index 0 = FAKE.

It is defined here, not imported from the package, so that the baseline cannot drift when the
package changes. torchvision does not import in this environment, so ResNeXt50_32x4d is re-declared
with torchvision's exact layer names (checkpoints in the seed's format load unchanged). The one
difference we cannot reproduce: ``resnext50_32x4d(pretrained=True)`` also read ImageNet weights
from the torch hub cache on every request; here the backbone is randomly initialised instead (a
little cheaper), so the baseline is, if anything, flattered.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import dlib
import numpy as np
import torch
from PIL import Image
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 112
SEED_STATE_DICT_KEYS = 322


# -- torchvision's ResNeXt50_32x4d, same parameter names -----------------------------------------


class Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` block (stride on the 3x3 convolution, grouped for ResNeXt)."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 32,
        base_width: int = 4,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNeXt50(nn.Module):
    """``torchvision.models.resnext50_32x4d()``: children in torchvision's order, same init."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 3)
        self.layer2 = self._make_layer(128, 4, stride=2)
        self.layer3 = self._make_layer(256, 6, stride=2)
        self.layer4 = self._make_layer(512, 3, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = out
        layers += [Bottleneck(out, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


# -- the seed's network, as shipped ------------------------------------------------------------


class Model(nn.Module):
    """The seed's ``Model``, quirks kept: the fourth positional LSTM argument is ``bias`` (so no
    LSTM bias) and ``batch_first=False`` (so each frame is its own one-step sequence)."""

    def __init__(
        self,
        num_classes: int,
        latent_dim: int = 2048,
        lstm_layers: int = 1,
        hidden_dim: int = 2048,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        model = ResNeXt50()  # the seed: models.resnext50_32x4d(pretrained=True)
        self.model = nn.Sequential(*list(model.children())[:-2])
        self.lstm = nn.LSTM(latent_dim, hidden_dim, lstm_layers, bidirectional)
        self.relu = nn.LeakyReLU()
        self.dp = nn.Dropout(0.4)
        self.linear1 = nn.Linear(2048, num_classes)
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, seq_length, c, h, w = x.shape
        x = x.view(batch_size * seq_length, c, h, w)
        fmap = self.model(x)
        x = self.avgpool(fmap)
        x = x.view(batch_size, seq_length, 2048)
        x_lstm, _ = self.lstm(x, None)
        return fmap, self.dp(self.linear1(x_lstm[:, -1, :]))


def write_checkpoint(path: Path, seed: int = 0) -> Path:
    """Save a randomly initialised ``state_dict`` in the seed's exact format (322 keys, ~226 MB).

    Written to a temporary name first so a half-written file is never taken for a checkpoint."""
    torch.manual_seed(seed)
    state = Model(2).state_dict()
    if len(state) != SEED_STATE_DICT_KEYS:
        raise RuntimeError(f"seed format has {SEED_STATE_DICT_KEYS} keys, built {len(state)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


# -- the seed's request path ---------------------------------------------------------------------

_DETECTOR = dlib.get_frontal_face_detector()
"""face_recognition builds its HOG detector once, at import time (not per request)."""
_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def face_locations(image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``face_recognition.face_locations(image)`` (HOG, one upsample): ``(top, right, bottom,
    left)`` boxes trimmed to the image."""
    h, w = image.shape[:2]
    return [
        (max(r.top(), 0), min(r.right(), w), min(r.bottom(), h), max(r.left(), 0))
        for r in _DETECTOR(image, 1)
    ]


def transform(image: np.ndarray) -> torch.Tensor:
    """``ToPILImage() → Resize((112, 112)) → ToTensor() → Normalize(mean, std)``, through PIL as
    torchvision did (bilinear with antialiasing)."""
    pil = Image.fromarray(np.ascontiguousarray(image)).resize(
        (INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR
    )
    tensor = torch.from_numpy(np.array(pil)).permute(2, 0, 1).float().div(255)
    return (tensor - _MEAN) / _STD


def analyse(video: Path, checkpoint: Path, sequence_length: int) -> dict[str, object]:
    """One request through the seed's path. Returns per-stage seconds, verdict and face count."""
    clock: dict[str, float] = {}
    started = time.perf_counter()

    t = time.perf_counter()
    model = Model(2)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    model.eval()
    clock["model_load"] = time.perf_counter() - t

    t = time.perf_counter()
    frames = []
    capture = cv2.VideoCapture(str(video))
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    clock["decode"] = time.perf_counter() - t
    decoded = len(frames)

    clock["detect"] = clock["crop_transform"] = 0.0
    tensors = []
    found = 0
    for frame in frames:
        t = time.perf_counter()
        faces = face_locations(frame)
        clock["detect"] += time.perf_counter() - t
        t = time.perf_counter()
        if faces:  # the seed: try: faces[0] ... except: pass (keeps the whole frame)
            top, right, bottom, left = faces[0]
            frame = frame[top:bottom, left:right, :]
            found += 1
        tensors.append(transform(frame))
        clock["crop_transform"] += time.perf_counter() - t
        if len(tensors) == sequence_length:
            break

    t = time.perf_counter()
    batch = torch.stack(tensors)[:sequence_length].unsqueeze(0)
    with torch.no_grad():
        _, logits = model(batch)
        probabilities = torch.softmax(logits, dim=1)[0]
    clock["inference"] = time.perf_counter() - t

    t = time.perf_counter()
    del frames, model  # freeing the decoded video is part of the request's cost
    clock["release"] = time.perf_counter() - t
    clock["total"] = time.perf_counter() - started
    fake = float(probabilities[0])
    return {
        "stages_s": {k: round(v, 4) for k, v in clock.items()},
        "total_s": round(clock["total"], 4),
        "verdict": "FAKE" if int(torch.argmax(probabilities)) == 0 else "REAL",
        "fake_probability": round(fake, 6),
        "frames_decoded": decoded,
        "frames_analyzed": len(tensors),
        "faces": found,
    }
