"""The model card a training run writes beside its weights (``MODEL_CARD.md``), from the model's
own ``config.json``: what it is, what data it saw, how it was trained and validated, and what it
does not know. ``scripts/ship_model.py`` extends it with evaluations before a model ships."""

from __future__ import annotations

from pathlib import Path

from deepfake_detector.models.checkpoints import ModelConfig

CARD_NAME = "MODEL_CARD.md"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def write_model_card(folder: Path, model_config: ModelConfig, command: str) -> Path:
    """Write ``MODEL_CARD.md`` (``model_card_text``) into ``folder``."""
    path = folder / CARD_NAME
    path.write_text(model_card_text(model_config, command), encoding="utf-8")
    return path


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def model_card_text(model_config: ModelConfig, command: str) -> str:
    """The model card from the model's own config: what it is, what it saw, how well it did on
    its validation set, and what it does not know."""
    t = model_config.training
    cfg = t.get("config", {})
    val = t.get("best_val") or {}
    rows = [f"| all fakes | {_fmt(val.get('auc'))} | {_fmt(val.get('eer'))} |"]
    trained_on = {n for n, w in (cfg.get("fakes") or {}).items() if w > 0}
    real_fakes = float(cfg.get("real_fakes") or 0.0)
    for name, m in (val.get("per_family") or {}).items():
        if m.get("held_out"):
            label = f"{name} (held out)"
        elif name in trained_on or real_fakes > 0:
            label = name
        else:
            label = f"{name} (not trained on)"
        rows.append(f"| {label} | {_fmt(m.get('auc'))} | {_fmt(m.get('eer'))} |")
    init = t.get("init_from")
    start = (
        f"; started from the trained model `{init['model']}` (sha256 {init['sha256'][:12]}) "
        "instead of ImageNet weights"
        if init
        else ""
    )
    weight = cfg.get("consistency_weight") or 0
    consistency = f" + {weight} × two-view consistency" if weight else ""
    split = cfg.get("split_seed")
    split_seed = f" (split and validation set: seed {split})" if split is not None else ""
    if real_fakes > 0:
        fakes_line = (
            f"Fakes: {100 * real_fakes:.0f} % of the fake clips were labelled real-world "
            "manipulations from the cache (one generator family at a time, equal weight per "
            f"family; held out: {', '.join(cfg.get('holdout_families') or []) or 'none'}), the "
            f"rest synthesised from real crops (families and weights: {cfg.get('fakes')})."
        )
    else:
        fakes_line = (
            "Only REAL faces were used; every fake was synthesised from them during training "
            f"(families and weights: {cfg.get('fakes')})."
        )
    counts = t.get("data", {})
    head = model_config.head
    floor = (
        f"; every crop shrunk to {model_config.detail_scale:g} of that size and enlarged back "
        "first, in training and in serving (`detail_scale`)"
        if model_config.detail_scale < 1
        else ""
    )
    if real_fakes > 0:
        limits = (
            "- Families it was trained on score better than unseen generators will: only the\n"
            "  held-out rows, and leave-one-generator-out runs (`scripts/logo.sh`), measure\n"
            "  generalisation.\n"
            f"- Temperature fitted on: {t.get('calibration', {}).get('data', 'nothing')}; the\n"
            "  0.5 threshold was not tuned."
        )
    else:
        limits = (
            "- Its validation fakes are synthesised like its training fakes: those figures say\n"
            "  nothing about real face-swap, reenactment or fully generated videos; only an\n"
            "  evaluation on such videos (`deepfake-detector evaluate`) does.\n"
            "- The temperature was fitted on synthesised fakes, so on real manipulated videos the\n"
            "  probabilities may be over- or under-confident; the 0.5 threshold was not tuned."
        )
    return f"""# {model_config.name}

## Architecture
Sequence classifier: `{model_config.backbone}` image backbone per frame (pooled features), a
{"bidirectional " if head.bidirectional else ""}LSTM (hidden {head.hidden}) over the clip with a
clip head, and a per-frame linear head. Input: RGB face crops of {model_config.input_size} px
(margin {model_config.crop.margin}, aligned: {model_config.crop.align}), ImageNet mean/std{floor}.
Output: one fake logit per clip and per frame;
`p_fake = sigmoid(logit / {model_config.temperature:.4g})` (calibrated: {model_config.calibrated};
temperature fitted on: {t.get("calibration", {}).get("data", "nothing")}).

## Training data
{_sentence(t.get("data_note") or "sources and licences not recorded (`data_note` in the config)")}
Crop cache `{cfg.get("cache", "?")}`: {counts.get("train_tracks", "?")} training tracks
({counts.get("train_entries", "?")} items), {counts.get("val_tracks", "?")} validation tracks
({counts.get("val_entries", "?")} items) of held-out identities. {fakes_line}

## Recipe
{t.get("epochs_run", "?")} epochs (best: epoch {t.get("best_epoch", "?")}) ×
{t.get("steps_per_epoch")} steps of {cfg.get("batch_size")} clips of {cfg.get("clip_frames")}
frames; AdamW lr {cfg.get("lr")} (warmup {cfg.get("warmup_fraction")}, cosine), weight decay
{cfg.get("weight_decay")}; loss: clip BCE + {cfg.get("frame_loss_weight")} × frame BCE{consistency};
augmentation {cfg.get("augment")}; precision {t.get("precision")} on {t.get("device")}{start};
seed {cfg.get("seed")}{split_seed}; wall time {t.get("wall_time_s", 0):.0f} s.

## Validation (held-out identities; synthesised and labelled fakes)
| fakes | AUC | EER |
|---|---|---|
{chr(10).join(rows)}

## Known limits
{limits}
- Faces must be cropped the way the config says; other crops (size, margin) degrade it.
- The training identities and recording conditions (mostly frontal, studio or interview video)
  bias what it considers real.

## Reproduce
```
{command}
```
"""
