"""Our checkpoint format: a folder with ``model.safetensors`` (tensors only: loading runs no code)
and ``config.json`` (everything needed to rebuild, preprocess and calibrate, so training and
serving read the same numbers).

``config.json`` example::

    {"format_version": 1, "name": "resnext50-lstm-sbi", "architecture": "sequence",
     "backbone": "resnext50_32x4d", "head": {"hidden": 256, "bidirectional": true, "dropout": 0.2},
     "input_size": 112, "crop": {"size": 112, "margin": 0.25, "align": true},
     "channel_order": "RGB", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
     "temperature": 1.0, "calibrated": false, "threshold": 0.5, "max_frames": 32,
     "clip_reduction": "head", "trained": true, "training": {"epochs": 10, "...": "..."}}
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.faces.crop import CropSpec
from deepfake_detector.models.seed import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SEED_ARCHITECTURE,
    SeedResNeXtLSTM,
)
from deepfake_detector.models.sequence import SEQUENCE_ARCHITECTURE, SequenceClassifier

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CLIP_REDUCTIONS = ("head", "mean_probability", "mean_logit")
ARCHITECTURES = (SEQUENCE_ARCHITECTURE, SEED_ARCHITECTURE)


@dataclass(frozen=True)
class HeadConfig:
    """The sequence model's temporal head (ignored by the seed architecture)."""

    hidden: int = 256
    bidirectional: bool = True
    dropout: float = 0.2


@dataclass(frozen=True)
class ModelConfig:
    """Everything about a model except its tensors."""

    name: str
    architecture: str = SEQUENCE_ARCHITECTURE
    backbone: str = "resnext50_32x4d"
    head: HeadConfig = field(default_factory=HeadConfig)
    input_size: int = 112
    crop: CropSpec = field(default_factory=lambda: CropSpec(size=112, margin=0.25, align=True))
    channel_order: str = "RGB"
    """Order of the channels the network was trained on (the seed saw OpenCV's BGR)."""
    mean: tuple[float, float, float] = IMAGENET_MEAN
    """Per-channel mean, applied to the channels *in ``channel_order``* (for BGR: mean[0] to B)."""
    std: tuple[float, float, float] = IMAGENET_STD
    temperature: float = 1.0
    """Calibration: ``p_fake = sigmoid(logit / temperature)``."""
    calibrated: bool = False
    threshold: float = 0.5
    band: tuple[float, float] | None = None
    """Borderline band ``[low, high)`` of calibrated probabilities: a score inside it gets the
    verdict band ``UNCERTAIN`` instead of ``REAL``/``FAKE`` (chosen on held-out validation);
    ``None``: no band measured."""
    ece: float | None = None
    """Expected calibration error on held-out real-world data (None: never measured). Above
    ``PROBABILITY_MAX_ECE`` the score is shown as a "fake score", not as a chance."""
    summary: str = ""
    """One line of measured accuracy for people (the web page shows it beside the card link)."""
    max_frames: int = 32
    """Longest clip scored in one pass; longer clips are scored in contiguous chunks."""
    clip_reduction: str = "head"
    """How the clip score is formed: ``head`` (the temporal head's logit), ``mean_probability``
    or ``mean_logit`` (of the per-frame fake probabilities / logits)."""
    detail_scale: float = 1.0
    """Below 1, every crop is shrunk to this fraction of ``input_size`` and enlarged back before
    the network sees it (1: off): a fixed floor on the detail scored, so that the finest traces,
    which each codec keeps or loses differently, move the score less. Training sets it with
    ``TrainConfig.detail_scale``; a model trained without it has still seen such crops, from its
    rescaling augmentation (``rescale_min``)."""
    trained: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance: data, epochs, metrics, code version."""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        problems = []
        if self.architecture not in ARCHITECTURES:
            problems.append(f"architecture {self.architecture!r} is not one of {ARCHITECTURES}")
        if self.channel_order not in ("RGB", "BGR"):
            problems.append(f"channel_order must be RGB or BGR, not {self.channel_order!r}")
        if self.clip_reduction not in CLIP_REDUCTIONS:
            problems.append(f"clip_reduction must be one of {CLIP_REDUCTIONS}")
        if self.input_size < 16 or self.crop.size != self.input_size:
            problems.append(
                f"crop.size ({self.crop.size}) must equal input_size ({self.input_size}), >= 16"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append("mean and std need three values each, std > 0")
        if not self.temperature > 0:
            problems.append("temperature must be > 0")
        if not 0.0 <= self.threshold <= 1.0:
            problems.append("threshold must be within [0, 1]")
        if self.band is not None and not (
            len(self.band) == 2 and 0.0 <= self.band[0] <= self.threshold <= self.band[1] <= 1.0
        ):
            problems.append("band must be [low, high] with 0 <= low <= threshold <= high <= 1")
        if self.ece is not None and not 0.0 <= self.ece <= 1.0:
            problems.append("ece must be within [0, 1]")
        if detail_scale_problem(self.input_size, self.detail_scale):
            problems.append(detail_scale_problem(self.input_size, self.detail_scale))
        if self.max_frames < 1:
            problems.append("max_frames must be >= 1")
        if self.format_version > FORMAT_VERSION:
            problems.append(
                f"format_version {self.format_version} is newer than this program understands "
                f"({FORMAT_VERSION}); upgrade deepfake-detector"
            )
        if problems:
            raise ModelError(f"invalid model config for {self.name!r}: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["band"] = None if self.band is None else list(self.band)
        order = ["format_version", "name", "architecture", "backbone"]
        return {k: d[k] for k in order} | {k: v for k, v in d.items() if k not in order}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Parse a config.json mapping; unknown keys are refused so that typos do not pass."""
        if not isinstance(data, Mapping):
            raise ModelError("model config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown keys in model config: {', '.join(unknown)}")
        if "name" not in data:
            raise ModelError("model config has no 'name'")
        try:
            kwargs = dict(data)
            if "head" in kwargs:
                kwargs["head"] = HeadConfig(**kwargs["head"])
            if "crop" in kwargs:
                kwargs["crop"] = CropSpec(**kwargs["crop"])
            for key in ("mean", "std", "band"):
                if kwargs.get(key) is not None:
                    kwargs[key] = tuple(float(v) for v in kwargs[key])
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"invalid model config: {exc}") from None


def detail_scale_problem(input_size: int, detail_scale: float) -> str:
    """Why ``detail_scale`` cannot be used at this input size ("" if it can): shared by model
    and training configs, so a training run is refused before it starts, not when it saves."""
    if not 0.0 < detail_scale <= 1.0 or round(input_size * detail_scale) < 8:
        return "detail_scale must be within (0, 1] and keep at least 8 px"
    return ""


def seed_config(name: str) -> ModelConfig:
    """The fixed config of an original seed checkpoint (they carry none of their own).

    ``clip_reduction="mean_probability"`` is a deliberate departure from the original, whose output
    was the last frame's alone: our clip score averages every frame's fake probability. The
    original's output is still available (``SeedResNeXtLSTM.forward`` / the exported clip logit).
    (Copies of the original *training* notebook end in ``linear1(torch.mean(x_lstm, dim=1))``,
    i.e. for one clip the mean of the per-frame logits: ``"mean_logit"`` is that.)
    """
    return ModelConfig(
        name=name,
        architecture=SEED_ARCHITECTURE,
        backbone="resnext50_32x4d",
        input_size=112,
        crop=CropSpec(size=112, margin=0.0, align=False),
        channel_order="BGR",
        max_frames=100,
        clip_reduction="mean_probability",
        trained=True,
    )


def build_network(config: ModelConfig, *, pretrained: bool = False) -> nn.Module:
    """A freshly initialised network for ``config`` (eval mode, fp32, CPU); ``pretrained`` starts
    the backbone from ImageNet weights (training does; restoring a checkpoint does not)."""
    if config.architecture == SEED_ARCHITECTURE:
        return SeedResNeXtLSTM().eval()
    head = config.head
    return SequenceClassifier(
        config.backbone,
        hidden=head.hidden,
        bidirectional=head.bidirectional,
        dropout=head.dropout,
        pretrained=pretrained,
    ).eval()


# --- sha256, streamed and cached ------------------------------------------------------------------

_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_SHA_LOCK = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, read in 1 MiB blocks; cached per (path, mtime, size) so that reporting it
    on every analysis costs nothing."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    with _SHA_LOCK:
        if key in _SHA_CACHE:
            return _SHA_CACHE[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    digest = h.hexdigest()
    with _SHA_LOCK:
        _SHA_CACHE[key] = digest
    return digest


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 of a state dict's safetensors serialisation (for models that live only in memory)."""
    return hashlib.sha256(safetensors.torch.save(dict(state))).hexdigest()


# --- save / load ----------------------------------------------------------------------------------


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    network: nn.Module,
    config: ModelConfig,
    folder: str | Path,
    *,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json`` (each atomically).
    ``dtype=torch.float16`` halves the file; loading upcasts to fp32."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {}
    for k, v in network.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        state[k] = v.contiguous()
    # One metadata key only: safetensors writes its metadata map in random order, and the same
    # weights must always give the same bytes (and sha256). Everything else is in config.json.
    data = safetensors.torch.save(state, metadata={"format": "pt"})
    _atomic_write_bytes(folder / WEIGHTS_NAME, data)
    text = json.dumps(config.to_dict(), indent=2) + "\n"
    _atomic_write_bytes(folder / CONFIG_NAME, text.encode())
    return folder


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, config)`` of a model folder, or of a ``.safetensors`` file + config.json."""
    p = Path(path)
    if p.is_dir():
        weights, config = p / WEIGHTS_NAME, p / CONFIG_NAME
        if not weights.is_file():
            raise ModelError(f"model folder {p} has no {WEIGHTS_NAME}")
    else:
        weights, config = p, p.with_name(CONFIG_NAME)
        if not weights.is_file():
            raise ModelError(f"model file not found: {p}")
    if not config.is_file():
        raise ModelError(
            f"{config.name} not found beside {weights.name}: our safetensors models need their "
            f"config (input size, normalisation, calibration) in {config}"
        )
    return weights, config


def read_config(path: str | Path) -> ModelConfig:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model config {p}: {exc}") from None
    return ModelConfig.from_dict(data)


def load_safetensors_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file, upcasting fp16/bf16 tensors to fp32 (we run in fp32)."""
    p = Path(path)
    if p.stat().st_size == 0:
        raise ModelError(f"model file is empty: {p}")
    try:
        state = safetensors.torch.load_file(str(p), device="cpu")
    except (safetensors.SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{p.name} is not a readable safetensors file ({exc})") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def load_state_strict(network: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with a message a user can act on."""
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(state[k].shape)} (needs {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {', '.join(unexpected[:3])}")
        if wrong:
            parts.append(f"{len(wrong)} with the wrong shape, e.g. {', '.join(wrong[:2])}")
        raise ModelError(
            f"weights in {source} do not fit the configured network: {'; '.join(parts)}"
        )
    network.load_state_dict(state, strict=True)


@dataclass
class LoadedCheckpoint:
    network: nn.Module
    config: ModelConfig
    sha256: str
    weights_path: Path


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Load one of our models from a folder or a ``.safetensors`` file (strict, fp32, eval)."""
    weights, config_path = checkpoint_paths(path)
    config = read_config(config_path)
    network = build_network(config)
    load_state_strict(network, load_safetensors_state(weights), str(weights))
    return LoadedCheckpoint(network.eval(), config, file_sha256(weights), weights)
