"""Our sequence model is a real sequence model: every valid frame counts, padding does not."""

from __future__ import annotations

import torch
from model_fixtures import clip_of_crops, sequence_network

from deepfake_detector.models.backbones import available_backbones, get_backbone
from deepfake_detector.models.checkpoints import ModelConfig
from deepfake_detector.models.runtime import preprocess


def _frames(count: int) -> torch.Tensor:
    return torch.from_numpy(preprocess(clip_of_crops(112, count), ModelConfig(name="x")))


def test_padding_does_not_change_a_clip_score():
    network = sequence_network()
    long, short = _frames(5), _frames(3)
    padded = torch.stack([long, torch.cat([short, torch.zeros(2, *short.shape[1:])])])
    with torch.inference_mode():
        batch_clip, batch_frames = network(padded, lengths=torch.tensor([5, 3]))
        alone_long = network(long[None])
        alone_short = network(short[None])
    torch.testing.assert_close(batch_clip[0], alone_long[0][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch_clip[1], alone_short[0][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch_frames[1, :3], alone_short[1][0], atol=1e-5, rtol=0)


def test_every_frame_counts_unlike_the_seed():
    network = sequence_network()
    x = _frames(4)[None]
    changed = x.clone()
    changed[0, 0] = torch.flip(changed[0, 0], dims=[-1])  # alter the first frame only
    with torch.inference_mode():
        clip, frames = network(x)
        clip2, frames2 = network(changed)
    assert not torch.allclose(clip, clip2, atol=1e-4)
    torch.testing.assert_close(frames[0, 1:], frames2[0, 1:])  # frame logits stay per frame
    assert frames.shape == (1, 4) and clip.shape == (1,)


def test_backbone_registry():
    assert "resnext50_32x4d" in available_backbones()
    spec = get_backbone("resnext50_32x4d")
    assert spec.feature_dim == 2048 and spec.cam_layer == "layer4"
    names = [name for name, _ in spec.create().named_children()]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
