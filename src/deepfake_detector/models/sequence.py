"""Our own sequence model: a registered image backbone per frame, then a real temporal model.

Unlike the seed, time is a proper axis here (``batch_first=True``): the clip logit depends on all
the valid frames of the clip, and padded frames of shorter clips in a training batch are excluded
(packed sequences for the LSTM, a masked mean over its outputs). Each frame also gets its own logit
from a linear head on its features, for per-frame scores and charts.

Both logits are single *fake* logits: ``p_fake = sigmoid(logit / temperature)``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from deepfake_detector.models.backbones import get_backbone

SEQUENCE_ARCHITECTURE = "sequence"


class SequenceClassifier(nn.Module):
    """Backbone → per-frame features ``(B, T, C)`` → frame head and temporal head."""

    def __init__(
        self,
        backbone: str = "resnext50_32x4d",
        hidden: int = 256,
        bidirectional: bool = True,
        dropout: float = 0.2,
        pretrained: bool = False,
    ) -> None:
        super().__init__()
        spec = get_backbone(backbone)
        self.backbone_name = backbone
        self.backbone = spec.create(pretrained=pretrained)
        self._cam_layer = spec.cam_layer
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.frame_head = nn.Linear(spec.feature_dim, 1)
        self.temporal = nn.LSTM(
            spec.feature_dim, hidden, 1, batch_first=True, bidirectional=bidirectional
        )
        self.clip_head = nn.Linear(hidden * (2 if bidirectional else 1), 1)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, H, W)`` → ``(B, T, C)`` pooled per-frame features."""
        b, t = frames.shape[0], frames.shape[1]
        fmap = self.backbone(frames.flatten(0, 1))
        return self.pool(fmap).flatten(1).unflatten(0, (b, t))

    def forward(
        self, frames: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``frames (B, T, 3, H, W)``, optional ``lengths (B,)`` of valid (leading) frames →
        ``(clip logit (B,), frame logits (B, T))``; frame logits past a clip's length are
        meaningless. Without ``lengths`` all frames are valid (inference, ONNX export)."""
        return self.head(self.features(frames), lengths)

    def head(
        self, feats: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame features ``(B, T, C)`` (from :meth:`features`) → the two logits, as
        :meth:`forward`; lets a caller compute features of several clips' valid frames only."""
        feats = self.dropout(feats)
        frame_logits = self.frame_head(feats).squeeze(-1)
        if lengths is None:
            out, _ = self.temporal(feats)
            pooled = out.mean(dim=1)
        else:
            t = feats.shape[1]
            packed = pack_padded_sequence(
                feats, lengths.cpu(), batch_first=True, enforce_sorted=False
            )
            out, _ = pad_packed_sequence(self.temporal(packed)[0], batch_first=True, total_length=t)
            lengths = lengths.to(feats.device)  # packing took them on the CPU; the mask on the GPU
            mask = torch.arange(t, device=feats.device)[None, :] < lengths[:, None]
            pooled = (out * mask.unsqueeze(-1)).sum(1) / lengths.to(out.dtype)[:, None].clamp(min=1)
        clip_logit = self.clip_head(self.dropout(pooled)).squeeze(-1)
        return clip_logit, frame_logits

    def scores(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The common scoring interface shared with the seed model (all frames valid)."""
        return self(frames)

    def cam_layer(self) -> nn.Module:
        return self.backbone.get_submodule(self._cam_layer)
