"""Synthetic fakes that carry generator traces rather than a blending boundary (issue #3).

Self-blending (:mod:`.selfblend`) teaches a detector to find the seam a face swap leaves.
Fully generated faces (talking-head generators, GAN and diffusion faces) have no seam: the
whole face region is re-synthesised by a decoder. What they do share is the decoder itself,
whose up-sampling layers leave periodic traces in the spectrum (checkerboard peaks from
transposed convolutions, spectral replicas from nearest/bilinear up-sampling; Odena et al.
2016, Zhang et al. "AutoGAN" 2019, Durall et al. 2020), and, for video, small frame-to-frame
inconsistencies because every frame is generated on its own. This module makes such fakes
from real crops only, so no identity or generator-specific content is learned:

* :class:`UpsamplingTrace` - down-sample a real crop and up-sample it back through a seeded
  random generator-style up-sampling layer (no training);
* :class:`AutoencoderTrace` - reconstruct it through a small conv autoencoder trained on the
  real crops themselves (AutoGAN's "spectrum simulator"), see :func:`train_autoencoder`;
* :class:`TemporalFlicker` - a per-frame-varying trace over a track, for sequence models;
* sequence-level wrappers with one call signature for every family, self-blending included,
  registered in :mod:`.families` (``selfblend``, ``upsampling``, ``autoencoder``, ``flicker``),
  where :class:`~.families.FakeMixer` mixes them by weight.

Like :mod:`.selfblend`: RGB ``uint8`` square crops in, the same out, deterministic for a given
``numpy.random.Generator`` state; callables hold only configuration (and, for the autoencoder,
its small model) so they pickle into ``DataLoader`` workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deepfake_detector.training.families import (
    FakeFamily,
    FamilyContext,
    check_track,
    register_family,
)
from deepfake_detector.training.selfblend import SelfBlendConfig, check_crop, face_mask, self_blend

__all__ = [
    "UPSAMPLING_MODES",
    "AutoencoderConfig",
    "AutoencoderSequence",
    "AutoencoderTrace",
    "FlickerConfig",
    "SelfBlendSequence",
    "TemporalFlicker",
    "TraceAutoencoder",
    "UpsamplingConfig",
    "UpsamplingSequence",
    "UpsamplingTrace",
    "load_autoencoder",
    "save_autoencoder",
    "train_autoencoder",
    "upsampling_trace",
]

UPSAMPLING_MODES = ("transposed4", "transposed3", "nearest_conv", "bilinear_conv")
"""Generator up-sampling layers: stride-2 transposed convolution with a 4- or 3-tap kernel
(uneven tap overlap: checkerboard, peaks at Nyquist; the 3-tap one also shifts the image by
half a pixel per layer, as such layers do in generators), nearest or bilinear resize followed by a
3x3 convolution (spectral replicas / high-frequency fall-off, no checkerboard)."""


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


def _to_image(tensor: torch.Tensor) -> np.ndarray:
    return tensor[0].permute(1, 2, 0).numpy()


def _quantise(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Up-sampling traces
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpsamplingConfig:
    """Random ranges of one up-sampling trace.

    Kernels are a fixed interpolation kernel (bilinear for transposed convolutions, a mild
    smoothing or sharpening 3x3 for resize+conv) times per-phase gains plus small tap noise,
    normalised so the mean gain is exactly 1: brightness and colour are preserved, only the
    generator-like periodic structure is added.
    """

    factors: tuple[int, ...] = (2, 4)
    """Down-sampling factors (powers of 2); each factor 2 is undone by one 2x layer."""
    modes: tuple[str, ...] = UPSAMPLING_MODES
    """Up-sampling layers to choose from, one per trace (all stages use the same kind)."""
    phase_gain: float = 0.02
    """Std of the per-phase gain of a transposed convolution (the checkerboard strength)."""
    kernel_noise: float = 0.02
    """Std of the per-tap perturbation, relative to the largest tap."""
    whole_crop_p: float = 0.5
    """Probability of regenerating the whole crop (talking heads) rather than only a soft
    face mask (face re-enactment pasted back)."""
    mask: SelfBlendConfig | None = None
    """Mask shape ranges, as for self-blending (default: :class:`SelfBlendConfig`)."""

    def __post_init__(self) -> None:
        if not self.factors or any(f < 2 or f & (f - 1) for f in self.factors):
            raise ValueError("factors must be non-empty powers of 2 >= 2")
        if not self.modes or any(m not in UPSAMPLING_MODES for m in self.modes):
            raise ValueError(f"modes must be non-empty, from {UPSAMPLING_MODES}")
        if self.phase_gain < 0 or self.kernel_noise < 0 or not 0 <= self.whole_crop_p <= 1:
            raise ValueError("phase_gain, kernel_noise >= 0 and whole_crop_p in [0, 1]")


_DEFAULT_UPSAMPLING = UpsamplingConfig()


def _transposed_kernel(taps: int, rng: np.random.Generator, cfg: UpsamplingConfig) -> np.ndarray:
    """``(3, 1, k, k)`` depthwise stride-2 transposed-conv kernel: bilinear, uneven phases."""
    base1d = np.array([0.25, 0.75, 0.75, 0.25] if taps == 4 else [0.5, 1.0, 0.5])
    base = np.outer(base1d, base1d)
    parity = np.arange(taps) % 2
    kernels = []
    for _ in range(3):
        gains = 1.0 + rng.normal(0.0, cfg.phase_gain, size=(2, 2))
        kernel = base * gains[parity[:, None], parity[None, :]]
        kernel = kernel + rng.normal(0.0, cfg.kernel_noise * base.max(), size=base.shape)
        kernels.append(kernel * 4.0 / kernel.sum())  # 4 output pixels per input pixel.
    return np.stack(kernels)[:, None].astype(np.float32)


def _resize_conv_kernel(mode: str, rng: np.random.Generator, cfg: UpsamplingConfig) -> np.ndarray:
    """``(3, 1, 3, 3)`` depthwise kernel after a resize: smoothing (nearest) or mixed."""
    w = rng.uniform(0.1, 0.3) if mode == "nearest_conv" else rng.uniform(-0.1, 0.2)
    base1d = np.array([w, 1.0 - 2.0 * w, w])
    base = np.outer(base1d, base1d)
    kernels = []
    for _ in range(3):
        kernel = base + rng.normal(0.0, cfg.kernel_noise * np.abs(base).max(), size=base.shape)
        kernels.append(kernel / kernel.sum())
    return np.stack(kernels)[:, None].astype(np.float32)


def _upsample2x(x: torch.Tensor, mode: str, kernel: torch.Tensor) -> torch.Tensor:
    """One generator-style 2x up-sampling layer on ``(1, 3, h, w)``, edges replicated."""
    h, w = x.shape[-2:]
    if mode.startswith("transposed"):
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        # Same alignment as conv_transpose2d(padding=1[, output_padding=1]) on the unpadded
        # input, but without the dark border that the missing taps would leave there.
        out = F.conv_transpose2d(padded, kernel, stride=2, groups=3)
        return out[..., 3 : 3 + 2 * h, 3 : 3 + 2 * w]
    interp = "nearest" if mode == "nearest_conv" else "bilinear"
    kwargs = {} if interp == "nearest" else {"align_corners": False}
    up = F.interpolate(x, scale_factor=2, mode=interp, **kwargs)
    return F.conv2d(F.pad(up, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)


def upsampling_trace(
    face: np.ndarray,
    rng: np.random.Generator,
    config: UpsamplingConfig | None = None,
    *,
    factor: int | None = None,
    mode: str | None = None,
) -> np.ndarray:
    """Whole-crop up-sampling trace (no mask): area down-sample by ``factor``, then up-sample
    back through ``log2(factor)`` seeded generator-style layers of kind ``mode``.

    ``factor``/``mode`` default to a draw from the config. Returns RGB ``uint8`` of the same
    shape; the crop is edge-padded to a multiple of ``factor`` so the output stays aligned.
    """
    cfg = config or _DEFAULT_UPSAMPLING
    face = check_crop(face)
    factor = int(cfg.factors[int(rng.integers(len(cfg.factors)))]) if factor is None else factor
    mode = str(cfg.modes[int(rng.integers(len(cfg.modes)))]) if mode is None else mode
    if mode not in UPSAMPLING_MODES or factor < 2 or factor & (factor - 1):
        raise ValueError(f"bad mode {mode!r} or factor {factor}")
    size = face.shape[0]
    padded_size = -(-size // factor) * factor
    pad = padded_size - size
    padded = cv2.copyMakeBorder(face, 0, pad, 0, pad, cv2.BORDER_REFLECT_101) if pad else face
    small = cv2.resize(
        padded.astype(np.float32),
        (padded_size // factor, padded_size // factor),
        interpolation=cv2.INTER_AREA,
    )
    x = _to_tensor(small)
    with torch.no_grad():
        for _ in range(factor.bit_length() - 1):
            if mode.startswith("transposed"):
                kernel = _transposed_kernel(4 if mode == "transposed4" else 3, rng, cfg)
            else:
                kernel = _resize_conv_kernel(mode, rng, cfg)
            x = _upsample2x(x, mode, torch.from_numpy(kernel))
    return _quantise(_to_image(x)[:size, :size])


def _blend(face: np.ndarray, fake: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weight = mask[..., None]
    return _quantise(fake.astype(np.float32) * weight + face.astype(np.float32) * (1 - weight))


def _trace_mask(
    landmarks: np.ndarray | None,
    size: int,
    rng: np.random.Generator,
    whole_crop_p: float,
    mask_config: SelfBlendConfig | None,
) -> np.ndarray:
    """All ones (whole crop regenerated) or a soft face mask; always draws the same numbers."""
    whole = rng.uniform() < whole_crop_p
    mask = face_mask(landmarks, size, rng, mask_config)
    return np.ones((size, size), np.float32) if whole else mask


class UpsamplingTrace:
    """Per-sample up-sampling trace: ``UpsamplingTrace(cfg)(face, landmarks, rng)``.

    Returns ``(fake, mask)`` like :class:`~.selfblend.SelfBlender`; ``mask`` is all ones when
    the whole crop was regenerated.
    """

    def __init__(self, config: UpsamplingConfig | None = None) -> None:
        self.config = config or UpsamplingConfig()

    def __call__(
        self, face: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(fake RGB uint8, mask float32)``."""
        face = check_crop(face)
        traced = upsampling_trace(face, rng, self.config)
        mask = _trace_mask(
            landmarks, face.shape[0], rng, self.config.whole_crop_p, self.config.mask
        )
        return _blend(face, traced, mask), mask

    def __repr__(self) -> str:
        return f"UpsamplingTrace({self.config!r})"


# ---------------------------------------------------------------------------------------------
# Autoencoder traces (AutoGAN)
# ---------------------------------------------------------------------------------------------


class TraceAutoencoder(nn.Module):
    """Small conv autoencoder with a generator-style decoder (~0.35M parameters).

    Encoder: three stride-2 4x4 convs to 1/8 resolution. Decoder: three 2x up-sampling layers
    (``"transposed"``: ConvTranspose2d k4 s2; ``"nearest"``: Upsample + Conv3x3) with ReLU, a
    3x3 conv and a sigmoid. Fully convolutional: any side that is a multiple of 8.
    """

    def __init__(self, width: int = 32, upsample: str = "transposed") -> None:
        super().__init__()
        if upsample not in ("transposed", "nearest"):
            raise ValueError(f"upsample must be 'transposed' or 'nearest', got {upsample!r}")
        self.width = width
        self.upsample = upsample
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in ((4 * w, 2 * w), (2 * w, w), (w, w // 2)):
            if upsample == "transposed":
                layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1))
            else:
                layers += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(c_in, c_out, 3, 1, 1),
                ]
            layers.append(nn.ReLU(inplace=True))
        layers += [nn.Conv2d(w // 2, 3, 3, 1, 1), nn.Sigmoid()]
        self.decoder = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in ``[0, 1]`` to its reconstruction, same shape."""
        return self.decoder(self.encoder(x))


def _patches(
    crops: Sequence[np.ndarray], size: int, batch: int, rng: np.random.Generator
) -> torch.Tensor:
    """Random ``size`` patches (native resolution, random flips) as ``(batch, 3, s, s)``."""
    out = np.empty((batch, size, size, 3), np.float32)
    for i in range(batch):
        crop = crops[int(rng.integers(len(crops)))]
        if min(crop.shape[:2]) < size:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        y = int(rng.integers(crop.shape[0] - size + 1))
        x = int(rng.integers(crop.shape[1] - size + 1))
        patch = crop[y : y + size, x : x + size]
        out[i] = patch[:, ::-1] if rng.uniform() < 0.5 else patch
    return torch.from_numpy(out / 255.0).permute(0, 3, 1, 2).contiguous()


def train_autoencoder(
    crops: Sequence[np.ndarray],
    steps: int = 300,
    size: int = 64,
    seed: int = 0,
    *,
    batch_size: int = 8,
    lr: float = 2e-3,
    width: int = 32,
    upsample: str = "transposed",
    history: list[float] | None = None,
) -> TraceAutoencoder:
    """Train a :class:`TraceAutoencoder` on random patches of real crops (L1 loss, Adam).

    AutoGAN's point: the reconstruction keeps the content of real faces but acquires the
    decoder's up-sampling traces, so real-vs-reconstruction teaches the traces only. Weight
    initialisation and patch sampling are seeded (global torch RNG state is left untouched);
    per-step losses are appended to ``history`` when given. Returns the model in eval mode.
    """
    if not crops:
        raise ValueError("need at least one crop")
    if size % 8:
        raise ValueError(f"size must be a multiple of 8, got {size}")
    crops = [check_crop(c) for c in crops]
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TraceAutoencoder(width, upsample)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = _patches(crops, size, batch_size, rng)
        loss = F.l1_loss(model(batch), batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if history is not None:
            history.append(loss.item())
    return model.eval()


def save_autoencoder(model: TraceAutoencoder, path: str | Path) -> None:
    """Weights as safetensors, with the architecture in its metadata."""
    from safetensors.torch import save_file

    meta = {"trace_autoencoder": json.dumps({"width": model.width, "upsample": model.upsample})}
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata=meta)


def load_autoencoder(path: str | Path) -> TraceAutoencoder:
    """Inverse of :func:`save_autoencoder`; returns the model in eval mode."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    if "trace_autoencoder" not in meta:
        raise ValueError(f"{path} is not a saved TraceAutoencoder (no metadata)")
    arch = json.loads(meta["trace_autoencoder"])
    model = TraceAutoencoder(int(arch["width"]), str(arch["upsample"]))
    model.load_state_dict(load_file(str(path)))
    return model.eval()


@dataclass(frozen=True)
class AutoencoderConfig:
    """How a reconstruction is pasted back."""

    whole_crop_p: float = 0.5
    """Probability of using the whole reconstructed crop rather than a soft face mask."""
    mask: SelfBlendConfig | None = None
    """Mask shape ranges (default: :class:`SelfBlendConfig`)."""

    def __post_init__(self) -> None:
        if not 0 <= self.whole_crop_p <= 1:
            raise ValueError("whole_crop_p must be in [0, 1]")


def _reconstruct(model: TraceAutoencoder, face: np.ndarray) -> np.ndarray:
    """Run at native resolution, edge-padded to a multiple of 8 (no resize to blur traces)."""
    size = face.shape[0]
    pad = -size % 8
    padded = cv2.copyMakeBorder(face, 0, pad, 0, pad, cv2.BORDER_REFLECT_101) if pad else face
    with torch.no_grad():
        out = model(_to_tensor(padded) / 255.0) * 255.0
    return _to_image(out)[:size, :size]


class AutoencoderTrace:
    """Per-sample AutoGAN reconstruction: ``AutoencoderTrace(model, cfg)(face, lm, rng)``.

    The reconstruction is deterministic; ``rng`` only chooses whole crop or mask and the mask.
    Returns ``(fake, mask)``.
    """

    def __init__(self, model: TraceAutoencoder, config: AutoencoderConfig | None = None) -> None:
        self.model = model.eval()
        self.config = config or AutoencoderConfig()

    def __call__(
        self, face: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(fake RGB uint8, mask float32)``."""
        face = check_crop(face)
        recon = _reconstruct(self.model, face)
        mask = _trace_mask(
            landmarks, face.shape[0], rng, self.config.whole_crop_p, self.config.mask
        )
        return _blend(face, recon, mask), mask

    def __repr__(self) -> str:
        return f"AutoencoderTrace({self.model.upsample!r}, {self.config!r})"


# ---------------------------------------------------------------------------------------------
# Temporal flicker
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlickerConfig:
    """Per-frame variation inside one fixed face mask: what frame-by-frame generation leaves."""

    gain: float = 0.03
    """Per-frame, per-channel colour gain ``1 ± gain`` of the face region."""
    brightness: float = 4.0
    """Per-frame additive brightness in levels, ``±brightness``."""
    shift_px: float = 0.75
    """Per-frame sub-pixel shift of the face region, ``±shift_px`` on each axis (scaled by
    side/224 so it is the same share of the face at any crop size)."""
    upsampling_p: float = 0.5
    """Probability that each frame is also re-synthesised with its own up-sampling kernels."""
    upsampling: UpsamplingConfig | None = None
    """Up-sampling trace ranges (default: :class:`UpsamplingConfig`)."""
    mask: SelfBlendConfig | None = None
    """Mask shape ranges (default: :class:`SelfBlendConfig`, but at full strength)."""

    def __post_init__(self) -> None:
        if min(self.gain, self.brightness, self.shift_px) < 0 or not 0 <= self.upsampling_p <= 1:
            raise ValueError("gain, brightness, shift_px >= 0 and upsampling_p in [0, 1]")


_FULL_MASK = SelfBlendConfig(blend_ratios=(1.0,))


class TemporalFlicker:
    """Sequence family: ``TemporalFlicker(cfg)(crops, landmarks, rng) -> fakes``.

    One mask shape for the whole track (the generated region is the face in every frame), but
    in each frame the face region gets its own colour gain, brightness, sub-pixel shift and,
    with probability ``upsampling_p`` per track, its own up-sampling kernels - so each frame
    alone looks plausible but neighbouring frames disagree.
    """

    def __init__(self, config: FlickerConfig | None = None) -> None:
        self.config = config or FlickerConfig()

    def __call__(
        self,
        crops: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """T RGB uint8 fakes for T crops of one track."""
        cfg = self.config
        check_track(crops, landmarks)
        mask_seed = int(rng.integers(2**63))
        use_upsampling = rng.uniform() < cfg.upsampling_p
        up_cfg = cfg.upsampling or _DEFAULT_UPSAMPLING
        factor = int(up_cfg.factors[int(rng.integers(len(up_cfg.factors)))])
        mode = str(up_cfg.modes[int(rng.integers(len(up_cfg.modes)))])
        fakes = []
        for crop, points in zip(crops, landmarks, strict=True):
            face = check_crop(crop)
            size = face.shape[0]
            mask = face_mask(points, size, np.random.default_rng(mask_seed), cfg.mask or _FULL_MASK)
            source = face
            if use_upsampling:
                source = upsampling_trace(face, rng, up_cfg, factor=factor, mode=mode)
            source = source.astype(np.float32)
            source = source * (1.0 + rng.uniform(-cfg.gain, cfg.gain, size=3)).astype(np.float32)
            source += np.float32(rng.uniform(-cfg.brightness, cfg.brightness))
            shift = rng.uniform(-cfg.shift_px, cfg.shift_px, size=2) * size / 224.0
            matrix = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]]], np.float64)
            source = cv2.warpAffine(
                source,
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT_101,
            )
            fakes.append(_blend(face, np.clip(source, 0, 255), mask))
        return fakes

    def __repr__(self) -> str:
        return f"TemporalFlicker({self.config!r})"


# ---------------------------------------------------------------------------------------------
# Sequence-level families and the mixer
# ---------------------------------------------------------------------------------------------


def _consistent(
    per_frame: Callable[
        [np.ndarray, np.ndarray | None, np.random.Generator], tuple[np.ndarray, np.ndarray]
    ],
    crops: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray | None],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Apply a per-frame family with one seed for the whole track: same parameters and mask
    shape in every frame, so the fake is temporally consistent like a real swap/generator."""
    check_track(crops, landmarks)
    seed = int(rng.integers(2**63))
    return [
        per_frame(crop, points, np.random.default_rng(seed))[0]
        for crop, points in zip(crops, landmarks, strict=True)
    ]


class SelfBlendSequence:
    """Self-blending over a track, temporally consistent (one seed per sequence)."""

    def __init__(self, config: SelfBlendConfig | None = None) -> None:
        self.config = config

    def _frame(
        self, face: np.ndarray, landmarks: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return self_blend(face, landmarks, rng, self.config)

    def __call__(
        self,
        crops: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """T self-blended crops, same blend in every frame."""
        return _consistent(self._frame, crops, landmarks, rng)


class UpsamplingSequence:
    """Up-sampling trace over a track with the same kernels and mask in every frame."""

    def __init__(self, config: UpsamplingConfig | None = None) -> None:
        self.trace = UpsamplingTrace(config)

    def __call__(
        self,
        crops: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """T traced crops, same trace in every frame."""
        return _consistent(self.trace, crops, landmarks, rng)


class AutoencoderSequence:
    """Autoencoder reconstruction over a track (same mask in every frame).

    Needs a trained model; without one calling it raises (``build_families`` loads the one a
    config names).
    """

    def __init__(
        self, model: TraceAutoencoder | None = None, config: AutoencoderConfig | None = None
    ) -> None:
        self.trace = None if model is None else AutoencoderTrace(model, config)

    def __call__(
        self,
        crops: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        rng: np.random.Generator,
    ) -> list[np.ndarray]:
        """T reconstructed crops."""
        if self.trace is None:
            raise RuntimeError(
                "the autoencoder family needs a trained model: "
                "AutoencoderSequence(train_autoencoder(...) or load_autoencoder(path))"
            )
        return _consistent(self.trace, crops, landmarks, rng)


@register_family("selfblend")
def _selfblend(context: FamilyContext) -> FakeFamily:
    return SelfBlendSequence()


@register_family("upsampling")
def _upsampling(context: FamilyContext) -> FakeFamily:
    return UpsamplingSequence()


@register_family("autoencoder")
def _autoencoder(context: FamilyContext) -> FakeFamily:
    return AutoencoderSequence(context.autoencoder)


@register_family("flicker")
def _flicker(context: FamilyContext) -> FakeFamily:
    return TemporalFlicker()
