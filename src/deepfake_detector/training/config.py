"""The training recipe (``deepfake-detector train CONFIG.yaml``): one YAML file, one dataclass.

Every field is checked when the file is read, so that a typo or an impossible value fails in one
clear line before any data is touched. Unknown keys are refused (a misspelt ``lr`` must not
silently train with the default). Relative paths (``cache``, ``out``) are taken relative to the
current directory, as with every other command.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from deepfake_detector.errors import DetectorError
from deepfake_detector.models.checkpoints import detail_scale_problem

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
CLIP_SAMPLING = ("window", "spread")


class ConfigError(DetectorError):
    """The training config is missing, unreadable or invalid."""


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentations, drawn once per clip and applied to every frame of it, identically for reals
    and fakes (so that none of them can tell the classes apart)."""

    hflip: float = 0.5
    """Probability of mirroring the clip horizontally."""
    jpeg_p: float = 0.5
    """Probability of re-encoding every frame as JPEG (after faking, like a real upload)."""
    jpeg_quality: tuple[int, int] = (60, 95)
    """JPEG quality range ``[low, high]`` for that re-encoding."""
    jitter_p: float = 0.5
    """Probability of a global colour jitter of the clip."""
    brightness: float = 0.1
    """Additive brightness ``±x`` as a fraction of 255."""
    contrast: float = 0.1
    """Contrast multiplied by ``1 ± x`` about the clip mean."""
    saturation: float = 0.1
    """Saturation multiplied by ``1 ± x``."""
    rescale_p: float = 0.0
    """Probability of scaling the clip down by a random factor and back up (blurs away the
    source resolution, which differs between generators and reals)."""
    rescale_min: float = 0.35
    """Smallest down-scaling factor of that rescale."""
    blur_p: float = 0.0
    """Probability of a Gaussian blur of the whole clip."""
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    """Blur sigma range ``[low, high]`` in pixels."""
    video_p: float = 0.0
    """Probability of re-encoding the clip as H.264 video (PyAV, libx264) at a random CRF: the
    codec traces of every source are overwritten alike for both classes."""
    video_crf: tuple[int, int] = (18, 40)
    """CRF range ``[low, high]`` of that re-encoding."""
    grayscale_p: float = 0.0
    """Probability of turning the clip grey (some uploads are black and white)."""
    match_sharpness_p: float = 0.0
    """Probability, for a labelled real-world fake, of blurring the clip (Gaussian) to the crop
    sharpness that its rank among the labelled fakes maps to among the real training crops
    (quantile matching), before the other augmentations. Generated talking heads and demo
    footage are sharper than most real training videos, so without it "sharp face" is learnt
    as "fake" (reals are never altered: degrading both classes alike keeps the gap)."""

    def problems(self) -> list[str]:
        out = []
        for name in (
            "hflip",
            "jpeg_p",
            "jitter_p",
            "rescale_p",
            "blur_p",
            "video_p",
            "grayscale_p",
            "match_sharpness_p",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                out.append(f"augment.{name} must be a probability in [0, 1]")
        low, high = self.jpeg_quality
        if not 1 <= low <= high <= 100:
            out.append("augment.jpeg_quality must be [low, high] with 1 <= low <= high <= 100")
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                out.append(f"augment.{name} must be in [0, 1)")
        if not 0.0 < self.rescale_min <= 1.0:
            out.append("augment.rescale_min must be in (0, 1]")
        low_s, high_s = self.blur_sigma
        if not 0.0 < low_s <= high_s:
            out.append("augment.blur_sigma must be [low, high] with 0 < low <= high")
        low_c, high_c = self.video_crf
        if not 0 <= low_c <= high_c <= 51:
            out.append("augment.video_crf must be [low, high] with 0 <= low <= high <= 51")
        return out


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Only ``name``, ``cache`` and ``out`` are required."""

    name: str
    """Model name, written into the model's ``config.json``."""
    cache: str
    """Crop cache folder (``cache.json``, ``entries.jsonl``, ``crops/``) of REAL faces only;
    fakes are synthesised from them on the fly."""
    out: str
    """Run folder: ``last.pt`` (resume state), ``log.jsonl``, ``model/`` (best model + card)."""
    backbone: str = "efficientnet_lite0"
    """Registered backbone name (``resnext50_32x4d``, ``mobilenet_v2``, ``efficientnet_lite0``,
    ``efficientnet_lite1``, ``efficientnet_lite2``)."""
    hidden: int = 256
    """LSTM hidden size of the temporal head."""
    bidirectional: bool = True
    """Bidirectional LSTM."""
    dropout: float = 0.2
    """Dropout on frame features and on the pooled temporal output."""
    input_size: int = 112
    """Network input side; cached crops of another size are resized (before faking)."""
    detail_scale: float = 1.0
    """Below 1, every crop (training, validation, and the trained model's serving) is shrunk to
    this fraction of ``input_size`` and enlarged back after augmentation: the model's
    ``detail_scale``, so it learns without the fine detail codecs keep or lose. 1: off."""
    clip_frames: int = 8
    """T: frames per training clip. Shorter tracks (and still images) give shorter clips: they
    are zero-padded and their true length is passed to the model, which ignores the padding."""
    clip_sampling: str = "window"
    """Training clips: ``window`` (T consecutive crops at a random start) or ``spread`` (T crops
    evenly spaced across the track, random phase). Validation always uses ``spread``."""
    batch_size: int = 8
    """Clips per step."""
    epochs: int = 10
    """Most epochs (early stopping may end sooner)."""
    steps_per_epoch: int = 0
    """Optimiser steps per epoch; 0: one pass over the training tracks."""
    lr: float = 3e-4
    """Peak AdamW learning rate (after warmup; cosine decay to ``lr * min_lr_ratio``)."""
    min_lr_ratio: float = 0.01
    """Final learning rate as a fraction of ``lr``."""
    warmup_fraction: float = 0.05
    """Share of all steps spent in linear warmup."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    frame_loss_weight: float = 0.5
    """Weight of the per-frame BCE (every frame of a fake clip is fake) beside the clip BCE."""
    consistency_weight: float = 0.0
    """Two-view consistency (0: off). Every training clip is then drawn once and augmented
    twice, independently (re-encoding, rescaling, blur, colour, flip); both views get the BCE,
    and this weight times the mean squared difference of their fake probabilities is added, so
    the model learns to give one face the same score whatever the quality it arrives in."""
    init_from: str = ""
    """A trained model (name or folder) with this run's network (backbone, hidden size,
    direction) whose weights start the run instead of ImageNet's: a curriculum, such as seams
    learnt from self-blends first, then real manipulations. Empty: ImageNet weights where the
    backbone has them."""
    fake_probability: float = 0.5
    """Chance that a training clip is turned into a fake."""
    real_fakes: float = 0.0
    """Share of fake training clips drawn from the cache's labelled FAKE items (real
    manipulations), one generator family at a time with equal weight per family; the rest are
    synthesised from real crops (``fakes``). 0: real faces only, every fake synthesised."""
    holdout_families: list[str] = field(default_factory=list)
    """Generator families (the index's ``method``) left out of training: neither their fakes nor
    any item of an identity group they share (a swap's own original) is trained on. They are
    scored on validation and reported, but never used to pick the epoch: leave-one-generator-out."""
    balance_reals: bool = False
    """Draw real clips with equal weight per ``source`` (dataset category), so that one large
    collection (thousands of still photos) does not decide what "real" looks like."""
    single_frame_p: float = 0.0
    """Chance that a training clip (real or fake alike) is one frame only, so still images are
    not a class cue."""
    fakes: dict[str, float] = field(default_factory=lambda: {"selfblend": 1.0})
    """Synthesised fake families and their sampling weights, by their name in the one family
    registry (``deepfake_detector.training.families``): ``selfblend``, ``upsampling``,
    ``flicker``, ``autoencoder`` (which needs ``autoencoder``)."""
    val_fakes: list[str] = field(default_factory=list)
    """Fake families of the validation set (empty: those trained on). Naming families that are
    not trained on measures how the model generalises to them; early stopping and the
    temperature then use every validation family."""
    autoencoder: str = ""
    """Trained trace autoencoder (safetensors) for the ``autoencoder`` family; write it with
    ``deepfake-detector train-autoencoder CONFIG.yaml``."""
    data_note: str = ""
    """Where the cache's faces come from and under which licences, for the model card (empty:
    the card names the crop cache only)."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Augmentations (see :class:`AugmentConfig`)."""
    precision: str = "auto"
    """``auto`` (CUDA: bf16 if supported else fp16; CPU: bf16 if the CPU has native bf16, else
    fp32), ``fp32``, ``bf16`` or ``fp16`` (CUDA only, with loss scaling)."""
    device: str = "auto"
    """``auto`` (CUDA when present), ``cpu`` or ``cuda``."""
    seed: int = 0
    """Seeds the initialisation and every training clip; also the split and the validation
    set unless ``split_seed`` is set."""
    split_seed: int | None = None
    """Seeds the split (which identities are held out) and the validation set; None: ``seed``.
    Set it to repeat a recipe with other draws and initialisation on the same held-out faces,
    so that two runs differ by training noise alone."""
    val_fraction: float = 0.1
    """Share of identity groups held out for validation when the cache entries carry no
    ``split`` (the split is identity-disjoint: by ``group``, else by file)."""
    val_max_tracks: int = 256
    """Most validation tracks (0: all); each gives one real clip and one clip per fake family."""
    early_stopping_patience: int = 3
    """Stop after this many epochs without a better validation AUC (0: at the first one)."""
    early_stopping_min_delta: float = 0.0
    """An epoch improves only if its AUC beats the best so far by more than this."""
    num_workers: int = 2
    """DataLoader worker processes (0: load in the main process)."""
    threads: int = 0
    """``torch.set_num_threads`` for the main process (0: leave PyTorch's default)."""
    channels_last: bool = True
    """Use the channels-last memory format (faster convolutions on CPU and tensor cores)."""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        out: list[str] = []
        for name in ("name", "cache", "out", "backbone"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                out.append(f"{name} must be a non-empty string")
        if not isinstance(self.init_from, str):
            out.append("init_from must be a model name or folder (a string)")
        positive = ("hidden", "clip_frames", "batch_size", "epochs")
        out += [f"{n} must be >= 1" for n in positive if getattr(self, n) < 1]
        non_negative = (
            "steps_per_epoch",
            "val_max_tracks",
            "early_stopping_patience",
            "num_workers",
            "threads",
        )
        out += [f"{n} must be >= 0" for n in non_negative if getattr(self, n) < 0]
        if self.split_seed is not None and self.split_seed < 0:
            out.append("split_seed must be >= 0 (or null: the same as seed)")
        if self.input_size < 16:
            out.append("input_size must be >= 16")
        if detail_scale_problem(self.input_size, self.detail_scale):
            out.append(detail_scale_problem(self.input_size, self.detail_scale))
        if not (math.isfinite(self.lr) and self.lr >= 0):
            out.append("lr must be >= 0")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            out.append("min_lr_ratio must be in [0, 1]")
        if not 0.0 <= self.warmup_fraction < 1.0:
            out.append("warmup_fraction must be in [0, 1)")
        if not self.weight_decay >= 0:
            out.append("weight_decay must be >= 0")
        if not self.frame_loss_weight >= 0:
            out.append("frame_loss_weight must be >= 0")
        if not self.consistency_weight >= 0:
            out.append("consistency_weight must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            out.append("dropout must be in [0, 1)")
        if not 0.0 <= self.real_fakes <= 1.0:
            out.append("real_fakes must be in [0, 1]")
        if not 0.0 <= self.single_frame_p <= 1.0:
            out.append("single_frame_p must be in [0, 1]")
        if not isinstance(self.holdout_families, list) or not all(
            isinstance(n, str) and n for n in self.holdout_families
        ):
            out.append("holdout_families must be a list of generator family names")
        if not 0.0 < self.fake_probability < 1.0:
            out.append("fake_probability must be in (0, 1)")
        if not 0.0 < self.val_fraction < 1.0:
            out.append("val_fraction must be in (0, 1)")
        if self.early_stopping_min_delta < 0:
            out.append("early_stopping_min_delta must be >= 0")
        if self.precision not in PRECISIONS:
            out.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            out.append(f"device must be one of {', '.join(DEVICES)} (or cuda:N)")
        if self.device == "cpu" and self.precision == "fp16":
            out.append("fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
        if self.clip_sampling not in CLIP_SAMPLING:
            out.append(f"clip_sampling must be one of {', '.join(CLIP_SAMPLING)}")
        if not isinstance(self.fakes, dict) or not self.fakes:
            out.append("fakes must map at least one family name to a weight")
        elif any(not math.isfinite(w) or w < 0 for w in self.fakes.values()):
            out.append("fakes weights must be finite and >= 0")
        elif sum(self.fakes.values()) <= 0:
            out.append("at least one fakes weight must be > 0")
        if not isinstance(self.val_fakes, list) or not all(
            isinstance(n, str) and n for n in self.val_fakes
        ):
            out.append("val_fakes must be a list of family names")
        elif len(set(self.val_fakes)) != len(self.val_fakes):
            out.append("val_fakes names a family twice")
        elif "autoencoder" in self.fake_families_used() and not self.autoencoder:
            out.append(
                "the autoencoder family needs `autoencoder: PATH` "
                "(write one with: deepfake-detector train-autoencoder CONFIG.yaml)"
            )
        out += self.augment.problems()
        return out

    @property
    def validation_seed(self) -> int:
        """What seeds the split and the validation set: ``split_seed``, else ``seed``."""
        return self.seed if self.split_seed is None else self.split_seed

    def training_families(self) -> list[str]:
        """Families drawn during training (weight > 0), in config order."""
        return [n for n, w in self.fakes.items() if w > 0]

    def validation_families(self) -> list[str]:
        """Families in the validation set: ``val_fakes``, else the training families."""
        return list(self.val_fakes) or self.training_families()

    def fake_families_used(self) -> set[str]:
        """Every family the run builds (training and validation)."""
        if not isinstance(self.fakes, dict):
            return set(self.val_fakes)
        return set(self.training_families()) | set(self.val_fakes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML types (for logs, checkpoints and the model's metadata)."""
        d = asdict(self)
        for key in ("jpeg_quality", "blur_sigma", "video_crf"):
            d["augment"][key] = list(getattr(self.augment, key))
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str = "config") -> TrainConfig:
        """Build from a parsed mapping with type checks and messages naming the bad key."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
        kwargs = _typed(cls, data, source, "")
        if "augment" in kwargs:
            if not isinstance(kwargs["augment"], dict):
                raise ConfigError(f"{source}: augment must be a mapping")
            aug = _typed(AugmentConfig, kwargs["augment"], source, "augment.")
            for key, kind in (("blur_sigma", float), ("video_crf", int)):
                if key in aug:
                    pair = aug[key]
                    if not (
                        isinstance(pair, list | tuple)
                        and len(pair) == 2
                        and all(_is_number(v) for v in pair)
                    ):
                        raise ConfigError(f"{source}: augment.{key} must be [low, high]")
                    aug[key] = (kind(pair[0]), kind(pair[1]))
            if "jpeg_quality" in aug:
                q = aug["jpeg_quality"]
                if not (
                    isinstance(q, list | tuple)
                    and len(q) == 2
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in q)
                ):
                    raise ConfigError(f"{source}: augment.jpeg_quality must be [low, high] ints")
                aug["jpeg_quality"] = (int(q[0]), int(q[1]))
            kwargs["augment"] = AugmentConfig(**aug)
        if "fakes" in kwargs:
            fakes = kwargs["fakes"]
            if not isinstance(fakes, dict) or not all(
                isinstance(k, str) and _is_number(v) for k, v in fakes.items()
            ):
                raise ConfigError(f"{source}: fakes must map family names to numeric weights")
            kwargs["fakes"] = {k: float(v) for k, v in fakes.items()}
        if "holdout_families" in kwargs:
            names = kwargs["holdout_families"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{source}: holdout_families must be a list of family names")
        if "val_fakes" in kwargs:
            names = kwargs["val_fakes"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{source}: val_fakes must be a list of family names")
        for key in ("cache", "out", "autoencoder"):
            if isinstance(kwargs.get(key), Path):
                kwargs[key] = str(kwargs[key])
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _typed(cls: type, data: dict[str, Any], source: str, prefix: str) -> dict[str, Any]:
    """Check keys and scalar types of ``data`` against the dataclass ``cls``."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(map(str, data)) - set(known))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    missing = [
        n
        for n, f in known.items()
        if n not in data and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        names = ", ".join(prefix + m for m in missing)
        raise ConfigError(f"{source}: missing required key(s) {names}")
    out = dict(data)
    for key, value in data.items():
        kind = known[key].type
        if kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
            raise ConfigError(f"{source}: {prefix}{key} must be an integer, not {value!r}")
        if kind == "int | None" and not (
            value is None or (isinstance(value, int) and not isinstance(value, bool))
        ):
            raise ConfigError(f"{source}: {prefix}{key} must be an integer or null, not {value!r}")
        if kind == "float":
            if not _is_number(value):
                raise ConfigError(f"{source}: {prefix}{key} must be a number, not {value!r}")
            out[key] = float(value)
        if kind == "bool" and not isinstance(value, bool):
            raise ConfigError(f"{source}: {prefix}{key} must be true or false, not {value!r}")
        if kind == "str" and not isinstance(value, str | Path):
            raise ConfigError(f"{source}: {prefix}{key} must be a string, not {value!r}")
    return out


def load_train_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read and validate a YAML training config; ``overrides`` (non-None) replace its keys."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read training config {p}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if data is None:
        data = {}
    if isinstance(data, dict):
        data = data | {k: v for k, v in overrides.items() if v is not None}
    return TrainConfig.from_dict(data, source=str(p))
