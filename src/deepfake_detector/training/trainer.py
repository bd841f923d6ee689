"""The training loop behind ``deepfake-detector train``: real crops in, a model folder out.

Per epoch: ``steps_per_epoch`` AdamW steps on clips (clip BCE + ``frame_loss_weight`` × per-frame
BCE over valid frames, + ``consistency_weight`` × the disagreement of two views of each clip),
then the fixed validation set (real and per-family fake clips of held-out identities), a JSON
log line, a human line on stderr, ``last.pt`` (everything needed to resume) and, when
validation AUC improves, the best model as ``out/model/`` (fp16 safetensors + config.json +
MODEL_CARD.md). ``last.pt`` holds tensors and plain containers only, so it loads with
``torch.load(weights_only=True)``: resuming never runs code from a file.
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from deepfake_detector.errors import ModelError
from deepfake_detector.hostinfo import cpu_model_and_flags
from deepfake_detector.models.backbones import get_backbone
from deepfake_detector.models.checkpoints import (
    ModelConfig,
    build_network,
    load_checkpoint,
    save_checkpoint,
)
from deepfake_detector.models.runtime import resolve_device
from deepfake_detector.training.config import ConfigError, TrainConfig
from deepfake_detector.training.data import make_datasets, model_config_for
from deepfake_detector.training.metrics import binary_metrics
from deepfake_detector.training.model_card import write_model_card

STATE_NAME = "last.pt"
LOG_NAME = "log.jsonl"
MODEL_DIR = "model"


@dataclass
class TrainResult:
    """What a run did; ``history`` holds every epoch's log record (resumed ones included)."""

    out: Path
    model_dir: Path | None
    start_epoch: int
    epochs_run: int
    best_epoch: int | None
    best_auc: float | None
    stopped_early: bool
    device: str
    precision: str
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainState:
    """Where a run stands between epochs: what ``last.pt`` stores beside the tensors, so a resumed
    run continues exactly (early stopping included)."""

    epoch: int = 0
    """Epochs finished."""
    best_auc: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    """Epochs since the last improvement (early stopping counts these)."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Every finished epoch's log record."""
    wall_time_s: float = 0.0
    """Wall time of the run so far, resumed sessions included."""

    def improve(self, auc: float | None, epoch: int, min_delta: float) -> bool:
        """Record epoch ``epoch``'s validation AUC; ``True`` when it is a new best."""
        improved = auc is not None and (self.best_auc is None or auc > self.best_auc + min_delta)
        if improved:
            self.best_auc, self.best_epoch, self.bad_epochs = auc, epoch, 0
        else:
            self.bad_epochs += 1
        return improved

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(
            epoch=int(data["epoch"]),
            best_auc=data["best_auc"],
            best_epoch=data["best_epoch"],
            bad_epochs=int(data["bad_epochs"]),
            history=list(data["history"]),
            wall_time_s=float(data.get("wall_time_s", 0.0)),
        )


def cpu_has_fast_bf16() -> bool:
    """Native bf16 (AVX512-BF16 or AMX): only then is bf16 autocast faster than fp32 on a CPU."""
    flags = cpu_model_and_flags()[1]
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → bf16 or fp16 on CUDA (bf16 where supported), bf16 on CPUs with native bf16,
    else fp32; ``fp16`` on a CPU is refused."""
    if device.type == "cuda":
        if precision == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return precision
    if precision == "fp16":
        raise ConfigError("fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
    if precision == "auto":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return precision


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _to_device(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if channels_last:
        b, t = x.shape[:2]
        x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, t))
    return x


def clip_loss(
    clip_logit: torch.Tensor,
    frame_logits: torch.Tensor,
    labels: torch.Tensor,
    lengths: torch.Tensor,
    frame_weight: float,
) -> torch.Tensor:
    """Clip BCE + ``frame_weight`` × mean BCE over valid frames (each inherits its clip's label)."""
    y = labels.float()
    loss = nn.functional.binary_cross_entropy_with_logits(clip_logit.float(), y)
    if frame_weight > 0:
        t = frame_logits.shape[1]
        mask = (torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]).float()
        per = nn.functional.binary_cross_entropy_with_logits(
            frame_logits.float(), y[:, None].expand(-1, t), reduction="none"
        )
        loss = loss + frame_weight * (per * mask).sum() / mask.sum().clamp(min=1)
    return loss


def consistency_loss(clip_logit: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the fake probabilities of two views of the same clips
    (``clip_logit`` holds every first view, then every second view, in the same order).
    Measured in probability, like the score shift the codec check reports."""
    first, second = torch.sigmoid(clip_logit.float()).chunk(2)
    return ((first - second) ** 2).mean()


def lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float) -> Any:
    """Linear warmup to 1, then cosine decay to ``min_ratio`` at ``total_steps``."""

    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f


class _Log:
    """``log.jsonl`` (one JSON object per line, appended) and human lines on stderr."""

    def __init__(self, path: Path, quiet: bool) -> None:
        self.path = path
        self.quiet = quiet

    def record(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


@torch.no_grad()
def evaluate_clips(
    network: nn.Module,
    loader: DataLoader,
    family_names: list[str],
    device: torch.device,
    precision: str,
    channels_last: bool,
    holdout: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validation metrics: overall (reals vs the fakes of every family not in ``holdout``: the
    figure that picks the epoch) and per family (reals vs that family, held-out ones marked)."""
    network.eval()
    scores, labels, families = [], [], []
    for frames, lengths, label, family in loader:
        with _autocast(device, precision):
            clip, _ = network(_to_device(frames, device, channels_last), lengths.to(device))
        scores.append(torch.sigmoid(clip.float()).cpu().numpy())
        labels.append(label.numpy())
        families.append(family.numpy())
    s, y, fam = np.concatenate(scores), np.concatenate(labels), np.concatenate(families)
    held = [k for k, name in enumerate(family_names) if name in holdout]
    chosen = ~np.isin(fam, held)
    overall = binary_metrics(y[chosen].tolist(), s[chosen].tolist())
    per_family = {}
    for k, name in enumerate(family_names):
        keep = (fam == -1) | (fam == k)
        if not np.any(fam == k):
            continue
        m = binary_metrics(y[keep].tolist(), s[keep].tolist())
        per_family[name] = {key: m[key] for key in ("auc", "ap", "eer", "n_real", "n_fake")}
        per_family[name]["held_out"] = name in holdout
    return {
        "auc": overall["auc"],
        "ap": overall["ap"],
        "eer": overall["eer"],
        "log_loss": overall["log_loss"],
        "accuracy": overall["accuracy"],
        "n": overall["n"],
        "per_family": per_family,
    }


def _loader(dataset: Any, config: TrainConfig, sampler: Any, device: torch.device) -> DataLoader:
    workers = config.num_workers
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=2 if workers else None,
    )


def _epoch_indices(n_tracks: int, count: int, seed: int, epoch: int) -> list[int]:
    """``count`` sample indices for an epoch: seeded permutations of the tracks, repeated as
    needed (index ``track + k * n`` is the k-th visit, so repeat visits draw new clips)."""
    rng = np.random.default_rng([seed, epoch, 12345])
    out: list[int] = []
    k = 0
    while len(out) < count:
        out += (rng.permutation(n_tracks) + k * n_tracks).tolist()
        k += 1
    return out[:count]


def _check_resume(saved: dict[str, Any], config: TrainConfig) -> None:
    fixed = (
        "backbone",
        "hidden",
        "bidirectional",
        "input_size",
        "detail_scale",
        "clip_frames",
        "seed",
        "split_seed",
        "cache",
    )
    # A field missing from a state written before it existed was trained at its default.
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    changed = [k for k in fixed if saved.get(k, defaults[k]) != getattr(config, k)]
    if changed:
        raise ConfigError(
            f"cannot resume: {', '.join(changed)} changed since {STATE_NAME} was written; "
            "use a new out folder"
        )


def _rng_state(device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    quiet: bool = False,
    command: str | None = None,
) -> TrainResult:
    """Train (or resume) the run described by ``config``; returns what happened."""
    started = time.monotonic()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if config.threads:
        torch.set_num_threads(config.threads)
    command = command or f"deepfake-detector train {shlex.quote(str(out / 'config.yaml'))}"
    log = _Log(out / LOG_NAME, quiet)

    model_config = model_config_for(config)
    train_set, val_set, counts = make_datasets(config, model_config)
    family_names = val_set.family_names
    steps = config.steps_per_epoch or max(1, len(train_set) // config.batch_size)
    total_steps = steps * config.epochs

    torch.manual_seed(config.seed)
    # Start from ImageNet weights when the backbone has them (a resumed run overwrites them).
    pretrained = get_backbone(config.backbone).pretrainable and not config.init_from
    network = build_network(model_config, pretrained=pretrained)
    if config.init_from and not resume:
        network.load_state_dict(initial_weights(config.init_from, model_config))
    init_source = _init_source(config)
    network = network.to(device)
    if config.channels_last:
        network = network.to(memory_format=torch.channels_last)
    decay = [p for n, p in network.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in network.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
    )
    warmup = int(config.warmup_fraction * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps, warmup, config.min_lr_ratio)
    )
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and precision == "fp16")

    state = TrainState()
    state_path = out / STATE_NAME
    if resume:
        if not state_path.is_file():
            raise ConfigError(f"cannot resume: {state_path} does not exist")
        try:
            saved = torch.load(state_path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as exc:
            raise ConfigError(f"cannot resume from {state_path}: {exc}") from None
        _check_resume(saved["config"], config)
        network.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        if saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        _set_rng_state(saved["rng"], device)
        state = TrainState.from_dict(saved)
        log.say(
            f"resuming {config.name} after epoch {state.epoch} (best AUC {_fmt(state.best_auc)})"
        )
    elif state_path.exists():
        raise ConfigError(
            f"{state_path} exists: pass --resume to continue that run, or use a new out folder"
        )
    start_epoch, prior_wall = state.epoch, state.wall_time_s
    if start_epoch == 0:
        (out / "config.yaml").write_text(_yaml(config.to_dict()), encoding="utf-8")
        log.record(
            {
                "event": "start",
                "config": config.to_dict(),
                "data": counts,
                "device": str(device),
                "precision": precision,
                "steps_per_epoch": steps,
            }
        )
    log.say(
        f"training {config.name}: {model_config.backbone} {config.input_size}px"
        f" T={config.clip_frames}"
        f" on {device} ({precision}); {counts['train_tracks']} train / {counts['val_tracks']} val"
        f" tracks; {steps} steps/epoch"
    )

    val_loader = _loader(val_set, config, None, device)
    stopped_early = False
    for epoch in range(start_epoch, config.epochs):
        if state.bad_epochs > config.early_stopping_patience:
            stopped_early = True
            break
        t0 = time.monotonic()
        train_set.set_epoch(epoch)
        indices = _epoch_indices(len(train_set), steps * config.batch_size, config.seed, epoch)
        loader = _loader(train_set, config, indices, device)
        steps_done = _train_epoch(
            network, loader, optimizer, scheduler, scaler, config, device, precision, epoch
        )
        train_s = time.monotonic() - t0
        val = evaluate_clips(
            network,
            val_loader,
            family_names,
            device,
            precision,
            config.channels_last,
            frozenset(config.holdout_families),
        )
        improved = state.improve(val["auc"], epoch + 1, config.early_stopping_min_delta)
        record = {
            "event": "epoch",
            "epoch": epoch + 1,
            **steps_done,
            "lr": scheduler.get_last_lr()[0],
            "train_time_s": train_s,
            "time_s": time.monotonic() - t0,
            "val": val,
            "best_auc": state.best_auc,
            "best_epoch": state.best_epoch,
            "improved": improved,
        }
        state.history.append(record)
        state.epoch = epoch + 1
        state.wall_time_s = prior_wall + time.monotonic() - started
        log.record(record)
        fams = " ".join(f"{k}={_fmt(v['auc'])}" for k, v in val["per_family"].items())
        log.say(
            f"epoch {epoch + 1}/{config.epochs} loss {record['loss']:.4f} val AUC"
            f" {_fmt(val['auc'])} [{fams}] {record['time_s']:.1f}s"
            f" ({record['step_time_s'] * 1000:.0f} ms/step)" + (" *best*" if improved else "")
        )
        if improved:
            meta = _training_meta(
                config, counts, record, val, state.history, device, precision, state.wall_time_s
            )
            meta["steps_per_epoch"] = steps
            meta["init_from"] = init_source
            save_checkpoint(
                network,
                replace(model_config, trained=True, training=meta),
                out / MODEL_DIR,
                dtype=torch.float16,
            )
        torch.save(
            {
                "config": config.to_dict(),
                "model": network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "rng": _rng_state(device),
                **state.to_dict(),
            },
            out / f"{STATE_NAME}.tmp",
        )
        (out / f"{STATE_NAME}.tmp").replace(state_path)
        if state.bad_epochs > config.early_stopping_patience and epoch + 1 < config.epochs:
            stopped_early = True
            log.say(f"early stop: no better val AUC for {state.bad_epochs} epoch(s)")
            break
    epochs_run = len(state.history)
    wall = prior_wall + time.monotonic() - started
    model_dir = out / MODEL_DIR
    if (model_dir / "config.json").is_file():
        loaded = load_checkpoint(model_dir)
        training = dict(loaded.config.training) | {
            "epochs_run": epochs_run,
            "stopped_early": stopped_early,
            "wall_time_s": wall,
            "history": [_brief(h) for h in state.history],
        }
        final = replace(loaded.config, training=training)
        save_checkpoint(loaded.network, final, model_dir, dtype=torch.float16)
        final = calibrate_on_validation(
            model_dir, val_loader, device, config.channels_last, _real_world_families(val_set)
        )
        write_model_card(model_dir, final, command)
    else:
        model_dir = None
    log.record(
        {
            "event": "end",
            "epochs_run": epochs_run,
            "best_epoch": state.best_epoch,
            "best_auc": state.best_auc,
            "stopped_early": stopped_early,
            "wall_time_s": wall,
        }
    )
    log.say(
        f"done: best val AUC {_fmt(state.best_auc)} at epoch {state.best_epoch}"
        + (" (early stop)" if stopped_early else "")
        + (f"; model in {model_dir}" if model_dir else "")
    )
    return TrainResult(
        out,
        model_dir,
        start_epoch,
        epochs_run,
        state.best_epoch,
        state.best_auc,
        stopped_early,
        str(device),
        precision,
        state.history,
    )


def _train_epoch(
    network: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    config: TrainConfig,
    device: torch.device,
    precision: str,
    epoch: int,
) -> dict[str, float]:
    """One epoch of optimiser steps; returns the epoch's loss, step time and fake share."""
    network.train()
    losses: list[float] = []
    step_times: list[float] = []
    n_fake = n_clips = 0
    for frames, lengths, labels, _family in loader:
        ts = time.monotonic()
        n_fake += int(labels.sum())
        n_clips += len(labels)
        views = 2 if frames.dim() == 6 else 1  # (B, 2, T, 3, S, S): two views of each clip
        if views == 2:
            frames = frames.transpose(0, 1).flatten(0, 1)  # all first views, then all second
            lengths, labels = lengths.repeat(2), labels.repeat(2)
        x = _to_device(frames, device, config.channels_last)
        lengths, labels = lengths.to(device), labels.to(device)
        with _autocast(device, precision):
            clip, frame = network(x, lengths)
        loss = clip_loss(clip, frame, labels, lengths, config.frame_loss_weight)
        if views == 2:
            loss = loss + config.consistency_weight * consistency_loss(clip)
        if not torch.isfinite(loss):
            raise ModelError(f"loss became {loss.item()} at epoch {epoch + 1}; lower lr")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(float(loss.detach()))
        step_times.append(time.monotonic() - ts)
    return {
        "loss": float(np.mean(losses)),
        "train_clips": n_clips,
        "train_fake_share": n_fake / max(1, n_clips),
        "step_time_s": float(np.mean(step_times)),
    }


def validate_model(model_dir: str | Path, config: TrainConfig) -> dict[str, Any]:
    """An existing model on ``config``'s validation set (the clips ``train`` would validate on,
    with ``val_fakes``): the same metrics as a training epoch, so that models trained with
    different recipes compare on equal footing. The model's own input size and normalisation
    are used; its crop geometry must match the cache's."""
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    if config.threads:
        torch.set_num_threads(config.threads)
    loaded = load_checkpoint(Path(model_dir))
    _, val_set, counts = make_datasets(config, loaded.config)
    network = loaded.network.float().to(device)
    if config.channels_last:
        network = network.to(memory_format=torch.channels_last)
    loader = _loader(val_set, config, None, device)
    val = evaluate_clips(
        network, loader, val_set.family_names, device, precision, config.channels_last
    )
    return val | {"model": loaded.config.name, "val_tracks": counts["val_tracks"]}


MIN_CALIBRATION_FAKES = 10
"""Fewest labelled (real-world) validation fakes to fit the temperature on them alone."""


def _real_world_families(val_set: Any) -> list[int]:
    """Family indices of the validation set's labelled (real-world) fakes."""
    offset = len(getattr(val_set, "synth_names", val_set.family_names))
    return list(range(offset, len(val_set.family_names)))


@torch.no_grad()
def calibrate_on_validation(
    model_dir: Path,
    val_loader: DataLoader,
    device: torch.device,
    channels_last: bool,
    real_world: list[int] | None = None,
) -> ModelConfig:
    """Fit a temperature on the saved model's raw clip logits over held-out validation clips and
    store it with the model. When the validation set holds at least ``MIN_CALIBRATION_FAKES``
    labelled fakes (families ``real_world``), the temperature is fitted on reals and those
    real-world fakes only, not on synthesised ones, whose scores are distributed differently;
    the model card says which data it came from."""
    from deepfake_detector.training.calibration import (
        expected_calibration_error,
        fit_temperature,
        store_calibration,
    )

    network = load_checkpoint(model_dir).network.to(device)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    network.eval()
    logits, labels, families = [], [], []
    for frames, lengths, label, family in val_loader:
        clip, _ = network(_to_device(frames, device, channels_last), lengths.to(device))
        logits.append(clip.float().cpu().numpy())
        labels.append(label.numpy())
        families.append(family.numpy())
    z, y = np.concatenate(logits).astype(np.float64), np.concatenate(labels)
    fam = np.concatenate(families)
    real_world_fakes = np.isin(fam, real_world or [])
    data = "held-out validation clips: real crops of unseen identities and their synthesised fakes"
    if real_world_fakes.sum() >= MIN_CALIBRATION_FAKES:
        keep = (fam == -1) | real_world_fakes
        z, y = z[keep], y[keep]
        data = (
            "held-out validation clips: real crops of unseen identities and labelled real-world "
            "fakes of unseen identities (no synthesised fakes)"
        )
    temperature = fit_temperature(z.tolist(), y.tolist())
    before = expected_calibration_error(y.tolist(), (1 / (1 + np.exp(-z))).tolist())
    after = expected_calibration_error(y.tolist(), (1 / (1 + np.exp(-z / temperature))).tolist())
    return store_calibration(
        model_dir,
        temperature,
        provenance={
            "data": data,
            "clips": len(y),
            "ece_before": round(float(before), 4),
            "ece_after": round(float(after), 4),
        },
    )


def initial_weights(model: str, model_config: ModelConfig) -> dict[str, torch.Tensor]:
    """The network weights of the trained ``model`` (``init_from``), checked to fit the network
    this run builds: a clear :class:`ConfigError` rather than a half-loaded network."""
    from deepfake_detector.models.registry import resolve_model

    try:
        resolved = resolve_model(model)
    except ModelError as exc:
        raise ConfigError(f"init_from: {exc}") from None

    def network(c: ModelConfig) -> dict[str, object]:
        return {
            "architecture": c.architecture,
            "backbone": c.backbone,
            "hidden": c.head.hidden,
            "bidirectional": c.head.bidirectional,
        }

    theirs, ours = network(resolved.config), network(model_config)
    differ = [f"{k} {theirs[k]!r} ≠ {ours[k]!r}" for k in ours if theirs[k] != ours[k]]
    if differ:
        raise ConfigError(f"init_from {model!r} has another network: {', '.join(differ)}")
    return {k: v.float() for k, v in resolved.load_network().state_dict().items()}


def _init_source(config: TrainConfig) -> dict[str, str] | None:
    """What ``init_from`` named and the sha256 of its weights, for the model card."""
    if not config.init_from:
        return None
    from deepfake_detector.models.registry import resolve_model

    return {"model": config.init_from, "sha256": resolve_model(config.init_from).sha256}


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {"epoch": record["epoch"], "loss": record["loss"], "val_auc": record["val"]["auc"]}


def _training_meta(
    config: TrainConfig,
    counts: dict[str, int],
    record: dict[str, Any],
    val: dict[str, Any],
    history: list[dict[str, Any]],
    device: torch.device,
    precision: str,
    wall: float,
) -> dict[str, Any]:
    from deepfake_detector import __version__

    return {
        "config": config.to_dict(),
        "data": counts,
        "data_note": config.data_note,
        "best_epoch": record["epoch"],
        "best_val": val,
        "epochs_run": len(history),
        "device": str(device),
        "precision": precision,
        "wall_time_s": wall,
        "torch": torch.__version__,
        "code_version": __version__,
    }


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
