"""The training loop end to end on a tiny synthetic crop cache (real photo crops, tiny backbone)."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from deepfake_detector.models import load_classifier
from deepfake_detector.models.backbones import available_backbones, register_backbone
from deepfake_detector.models.checkpoints import build_network
from deepfake_detector.training.autoencoder_command import add_autoencoder_parser
from deepfake_detector.training.config import (
    AugmentConfig,
    ConfigError,
    TrainConfig,
    load_train_config,
)
from deepfake_detector.training.data import make_datasets, model_config_for
from deepfake_detector.training.train_command import add_train_parser
from deepfake_detector.training.trainer import (
    consistency_loss,
    initial_weights,
    train,
    validate_model,
)

from video_factory import ASTRONAUT_FACE, GRACE_HOPPER_FACE, astronaut, grace_hopper

TINY = "tiny_test_cnn"
BN_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")
SIZE = 64

if TINY not in available_backbones():

    @register_backbone(TINY, feature_dim=16, cam_layer="2")
    def _tiny() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, 2, 1),
            nn.ReLU(),
        )


def _crop(
    photo: np.ndarray, box: tuple[int, int, int, int], dx: int, dy: int, size: int
) -> np.ndarray:
    x1, y1, x2, y2 = box
    side = int(max(x2 - x1, y2 - y1) * 1.5)
    cx, cy = (x1 + x2) // 2 + dx, (y1 + y2) // 2 + dy
    x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
    patch = photo[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=cv2.INTER_AREA)


def write_cache(folder: Path, size: int = SIZE) -> Path:
    """A crop cache in the on-disk format: 6 identity groups, 2 tracks of 3 crops per video
    entry, plus one still-image entry (1 crop) and one fake entry (must be skipped)."""
    (folder / "crops").mkdir(parents=True)
    (folder / "cache.json").write_text(
        json.dumps({"format": 1, "spec": {"size": size, "margin": 0.25, "align": True}})
    )
    photos = [(astronaut(), ASTRONAUT_FACE), (grace_hopper(), GRACE_HOPPER_FACE)]
    records = []
    rng = np.random.default_rng(0)
    for g in range(6):
        photo, box = photos[g % 2]
        crops, track, times = [], [], []
        for tid in range(2):
            for k in range(3):
                dx, dy = (rng.integers(-12, 13, size=2) + np.array([tid * 10, 0])).tolist()
                crops.append(_crop(photo, box, dx, dy, size))
                track.append(tid)
                times.append(k * 0.5)
        n = len(crops)
        records.append((f"v{g}.mp4", "video", f"id{g}", 0, crops, track, times))
    records.append(("still.jpg", "face", "id0", 0, [_crop(*photos[0], 3, 3, size)], [0], [0.0]))
    records.append(("fake.mp4", "video", "id9", 1, [_crop(*photos[1], 0, 0, size)], [0], [0.0]))
    lines = []
    for path, kind, group, label, crops, track, times in records:
        n = len(crops)
        file = f"crops/{Path(path).stem}.npz"
        np.savez_compressed(
            folder / file,
            crops=np.stack(crops).astype(np.uint8),
            landmarks=np.full((n, 5, 2), np.nan, np.float32),
            track=np.asarray(track, np.int16),
            time_s=np.asarray(times, np.float32),
        )
        lines.append(
            json.dumps(
                {
                    "path": path,
                    "label": label,
                    "kind": kind,
                    "source": "test",
                    "method": "real",
                    "group": group,
                    "split": "",
                    "extra": {},
                    "file": file,
                    "crops": n,
                    "tracks": len(set(track)),
                    "error": None,
                }
            )
        )
    (folder / "entries.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cache(tmp_path_factory.mktemp("cache") / "cache")


def _config(cache: Path, out: Path, **kw: object) -> TrainConfig:
    base = dict(
        name="tiny-test",
        cache=str(cache),
        out=str(out),
        backbone=TINY,
        hidden=8,
        input_size=SIZE,
        clip_frames=2,
        batch_size=4,
        epochs=2,
        steps_per_epoch=2,
        lr=1e-3,
        precision="fp32",
        device="cpu",
        seed=3,
        val_fraction=0.34,
        num_workers=0,
        fakes={"selfblend": 1.0, "upsampling": 1.0},
        data_note="made from scikit-image photos (BSD-3-Clause)",
    )
    return TrainConfig.from_dict(base | kw)


def test_train_resume_and_saved_model(cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = train(_config(cache_dir, out, epochs=1), quiet=True)
    assert first.epochs_run == 1 and (out / "last.pt").is_file()
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 1

    with pytest.raises(ConfigError, match="--resume"):
        train(_config(cache_dir, out, epochs=2), quiet=True)
    result = train(_config(cache_dir, out, epochs=2), resume=True, quiet=True)
    assert result.start_epoch == 1  # continues with epoch 2
    assert [h["epoch"] for h in result.history] == [1, 2]

    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    for r in epochs:
        assert math.isfinite(r["loss"])
        assert r["val"]["auc"] is not None
        assert set(r["val"]["per_family"]) == {"selfblend", "upsampling"}

    model_dir = out / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["trained"] is True and config["backbone"] == TINY
    assert config["input_size"] == SIZE and config["crop"]["margin"] == 0.25
    assert config["training"]["data"]["val_tracks"] > 0
    assert "selfblend" in config["training"]["best_val"]["per_family"]
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "Made from scikit-image photos (BSD-3-Clause)." in card  # the config's data_note
    assert "train_real" not in card and "deepfake-detector train" in card

    clf = load_classifier(str(model_dir), device="cpu")
    crops = [_crop(astronaut(), ASTRONAUT_FACE, 0, 0, 80) for _ in range(3)]
    scores = clf.score_clip(crops)
    assert 0.0 <= scores.fake_probability <= 1.0
    assert scores.frame_probabilities.shape == (3,)


def test_detail_scale_trains_validates_and_serves_through_the_floor(
    cache_dir: Path, tmp_path: Path
) -> None:
    """``detail_scale`` reaches the saved model (so serving applies the floor the network was
    trained with) and the datasets' frames; resuming with another value is refused, and a state
    written before the field existed resumes as trained without a floor."""
    from deepfake_detector.models.runtime import preprocess
    from deepfake_detector.training.data import choose_frames, make_datasets, model_config_for

    out = tmp_path / "run"
    config = _config(cache_dir, out, epochs=1, detail_scale=0.5)
    train(config, quiet=True)
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["detail_scale"] == 0.5
    assert "shrunk to 0.5 of that size" in (out / "model" / "MODEL_CARD.md").read_text()
    model_config = model_config_for(config)
    assert model_config.detail_scale == 0.5
    _, val, _ = make_datasets(config, model_config)
    track_i, family = val.fixed[0]
    assert family < 0  # the plan starts with the real tracks, unfaked
    frames, length, _, _ = val[0]
    track = val.track(track_i)
    positions = choose_frames(len(track.frames), config.clip_frames, "spread", None)
    crops, _ = val._load(track, positions)
    floored = preprocess(crops, model_config)
    np.testing.assert_allclose(frames[:length].numpy(), floored, atol=1e-6)
    plain = preprocess(crops, replace(model_config, detail_scale=1.0))
    assert np.abs(np.diff(floored, axis=-1)).mean() < np.abs(np.diff(plain, axis=-1)).mean()
    with pytest.raises(ConfigError, match="detail_scale"):
        train(_config(cache_dir, out, epochs=2), resume=True, quiet=True)

    state = torch.load(out / "last.pt", weights_only=True)
    del state["config"]["detail_scale"]
    torch.save(state, out / "last.pt")
    with pytest.raises(ConfigError, match="detail_scale"):
        train(_config(cache_dir, out, epochs=2, detail_scale=0.5), resume=True, quiet=True)
    assert train(_config(cache_dir, out, epochs=2), resume=True, quiet=True).start_epoch == 1
    with pytest.raises(ConfigError, match="detail_scale"):
        _config(cache_dir, out, detail_scale=0.0)


def test_early_stopping_when_val_auc_does_not_improve(cache_dir: Path, tmp_path: Path) -> None:
    # min_delta 1.0: no epoch after the first can improve on an AUC, so patience 0 stops at 2.
    config = _config(
        cache_dir,
        tmp_path / "run",
        epochs=5,
        steps_per_epoch=1,
        early_stopping_patience=0,
        early_stopping_min_delta=1.0,
        fakes={"selfblend": 1.0},
    )
    result = train(config, quiet=True)
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1


def test_dataset_is_deterministic(cache_dir: Path, tmp_path: Path) -> None:
    config = _config(cache_dir, tmp_path, clip_frames=3)
    mc = model_config_for(config)
    a, val_a, counts = make_datasets(config, mc)
    b, val_b, _ = make_datasets(config, mc)
    assert counts["skipped_fake"] == 1 and counts["val_tracks"] > 0
    a.set_epoch(4)
    b.set_epoch(4)
    for i in (0, 5, 3 + len(a)):
        xa, la, ya, fa = a[i]
        xb, lb, yb, fb = b[i]
        assert torch.equal(xa, xb) and (la, ya, fa) == (lb, yb, fb)
        assert xa.shape == (3, 3, SIZE, SIZE)
    labels = {a[i][2] for i in range(40)}
    assert labels == {0, 1}
    b.set_epoch(5)
    assert any(not torch.equal(a[i][0], b[i][0]) for i in range(4))
    # The still image gives a 1-frame clip: zero-padded, its length says so.
    lengths = {a[i][1] for i in range(len(a))} | {val_a[i][1] for i in range(len(val_a))}
    assert lengths == {1, 3}
    assert torch.equal(val_a[1][0], val_b[1][0]) and val_a[1][2] == 1


def test_two_views_are_one_clip_augmented_twice(cache_dir: Path, tmp_path: Path) -> None:
    """With consistency_weight, a training sample is the one-view sample plus an independently
    augmented second view of the same frames; validation stays one view."""
    one = _config(cache_dir, tmp_path, clip_frames=3)
    two = replace(one, consistency_weight=2.0)
    mc = model_config_for(one)
    single, _, _ = make_datasets(one, mc)
    paired, val, _ = make_datasets(two, mc)
    single.set_epoch(2)
    paired.set_epoch(2)
    differs = 0
    for i in range(12):
        xs, ls, ys, fs = single[i]
        xp, lp, yp, fp = paired[i]
        assert xp.shape == (2, *xs.shape) and (lp, yp, fp) == (ls, ys, fs)
        assert torch.equal(xp[0], xs)
        differs += not torch.equal(xp[0], xp[1])
    assert differs >= 8  # the default augmentations (flip, jitter, JPEG...) redraw per view
    assert val[0][0].dim() == 4
    # Without augmentation both views are the same pixels: only augmentation tells them apart.
    still = replace(
        two,
        augment=AugmentConfig(hflip=0, jpeg_p=0, jitter_p=0, rescale_p=0, blur_p=0, video_p=0),
    )
    plain, _, _ = make_datasets(still, mc)
    plain.set_epoch(2)
    assert all(torch.equal(plain[i][0][0], plain[i][0][1]) for i in range(6))


def test_consistency_loss_measures_disagreement() -> None:
    same = torch.tensor([1.0, -2.0, 1.0, -2.0])
    assert consistency_loss(same).item() == 0.0
    logits = torch.tensor([0.0, 0.0, math.log(3.0), 0.0], requires_grad=True)  # p: .5 .5 | .75 .5
    loss = consistency_loss(logits)
    assert loss.item() == pytest.approx(0.25**2 / 2)
    loss.backward()
    assert logits.grad is not None
    assert logits.grad[0] < 0 < logits.grad[2]  # pulls the first pair's two views together
    assert logits.grad[1] == logits.grad[3] == 0


def test_training_with_two_views(cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(_config(cache_dir, out, epochs=1, consistency_weight=3.0), quiet=True)
    assert result.epochs_run == 1
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    epoch = next(r for r in records if r["event"] == "epoch")
    assert math.isfinite(epoch["loss"]) and epoch["train_clips"] == 2 * 4  # clips, not views
    card = (out / "model" / "MODEL_CARD.md").read_text()
    assert "3.0 × two-view consistency" in card
    with pytest.raises(ConfigError, match="consistency_weight"):
        TrainConfig(name="x", cache="c", out="o", consistency_weight=-1.0)


def test_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: x\ncache: c\nout: o\nlrr: 0.1\n")
    with pytest.raises(ConfigError, match="lrr"):
        load_train_config(path)
    path.write_text("name: x\ncache: c\nout: o\nbatch_size: 0\nprecision: fp8\n")
    with pytest.raises(ConfigError, match=r"batch_size.*precision"):
        load_train_config(path)
    path.write_text("name: x\nout: o\n")
    with pytest.raises(ConfigError, match="cache"):
        load_train_config(path)
    path.write_text("name: x\ncache: c\nout: o\nepochs: 3\n")
    assert load_train_config(path, epochs=7, steps_per_epoch=None).epochs == 7

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", str(path), "--quiet"])
    assert args.handler(args) == 2  # cache "c" does not exist: one line, exit 2
    assert parser.parse_args(["train", str(path), "--seed", "0"]).seed == 0
    assert load_train_config(path, seed=5).seed == 5
    args = parser.parse_args(["train", str(path), "--seed", "1", "--split-seed", "0"])
    assert (args.seed, args.split_seed) == (1, 0)
    rerun = load_train_config(path, seed=args.seed, split_seed=args.split_seed)
    assert (rerun.seed, rerun.validation_seed) == (1, 0)
    assert load_train_config(path, seed=1).validation_seed == 1  # the split follows the seed
    with pytest.raises(SystemExit):
        parser.parse_args(["train", str(path), "--seed", "-1"])


def _autoencoder_args(path: Path) -> list[str]:
    return ["train-autoencoder", str(path), "--steps", "3", "--patch", "32"]


def test_validation_on_families_not_trained_on(cache_dir: Path, tmp_path: Path) -> None:
    """val_fakes measures generalisation to held-out families; the autoencoder family needs a
    trace autoencoder, which train-autoencoder fits on the training crops only."""
    families = ["selfblend", "flicker", "autoencoder"]
    with pytest.raises(ConfigError, match="autoencoder: PATH"):
        _config(cache_dir, tmp_path / "run", fakes={"selfblend": 1.0}, val_fakes=families)
    with pytest.raises(ConfigError, match="twice"):
        _config(cache_dir, tmp_path / "run", val_fakes=["flicker", "flicker"])

    weights = tmp_path / "ae" / "trace.safetensors"
    config = _config(
        cache_dir,
        tmp_path / "run",
        epochs=1,
        fakes={"selfblend": 1.0},
        val_fakes=families,
        autoencoder=str(weights),
    )
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config.to_dict()))  # JSON is YAML
    parser = argparse.ArgumentParser()
    add_autoencoder_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(_autoencoder_args(path))
    assert args.handler(args) == 0 and weights.is_file()
    assert args.handler(args) == 2  # exists: refuses without --force
    assert not list(weights.parent.glob(".autoencoder-*"))  # no temporary file left behind
    # --holdout reaches the split as in `train`: a family the cache has no fakes of is refused.
    held = parser.parse_args([*_autoencoder_args(path), "--force", "--holdout", "no-such-one"])
    assert held.handler(held) == 2

    train_set, val_set, _ = make_datasets(config, model_config_for(config))
    assert train_set.family_names == ["selfblend"]
    assert {train_set[i][3] for i in range(40)} == {-1, 0}
    assert val_set.family_names == families
    assert len(val_set) == 4 * len(val_set.tracks)  # one real + one clip per family

    result = train(config, quiet=True)
    assert set(result.history[-1]["val"]["per_family"]) == set(families)
    card = (result.model_dir / "MODEL_CARD.md").read_text()
    assert "| selfblend |" in card and "| flicker (not trained on) |" in card
    assert "| autoencoder (not trained on) |" in card

    # The saved (fp16) best model, scored again on the same clips, matches its epoch's numbers.
    val = validate_model(result.model_dir, config)
    assert set(val["per_family"]) == set(families)
    best = result.history[result.best_epoch - 1]["val"]
    assert val["auc"] == pytest.approx(best["auc"], abs=0.05)


def test_shipped_configs_parse() -> None:
    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("selfblend-efficientnet-lite0.yaml", "selfblend-resnext50.yaml"):
        assert load_train_config(root / name).fakes == {"selfblend": 1.0}
    # The sharpness-matching recipe is the default's with that one augmentation switched on.
    default = load_train_config(root / "realworld-efficientnet-lite0.yaml")
    matched = load_train_config(root / "realworld-match-sharpness.yaml")
    assert matched.augment.match_sharpness_p == 1.0 and default.augment.match_sharpness_p == 0.0
    assert replace(
        matched,
        name=default.name,
        out=default.out,
        augment=replace(matched.augment, match_sharpness_p=0.0),
    ) == replace(default, data_note=matched.data_note)
    # The curriculum's first stage and the stronger backbone change only what they say.
    seams = load_train_config(root / "seams-efficientnet-lite0.yaml")
    assert seams.real_fakes == 0.0 and seams.steps_per_epoch == 100
    assert replace(
        seams, name=default.name, out=default.out, real_fakes=0.65, steps_per_epoch=75
    ) == replace(default, data_note=seams.data_note)
    # The generator-trace recipe changes the synthesised families and names its autoencoder.
    traces = load_train_config(root / "realworld-traces.yaml")
    traced = {"selfblend": 0.45, "upsampling": 0.15, "autoencoder": 0.25, "flicker": 0.15}
    assert traces.fakes == traced
    assert replace(
        traces, name=default.name, out=default.out, fakes=default.fakes, autoencoder=""
    ) == replace(default, data_note=traces.data_note)
    lite2 = load_train_config(root / "realworld-efficientnet-lite2-224.yaml")
    assert (lite2.backbone, lite2.input_size) == ("efficientnet_lite2", 224)
    assert replace(
        lite2, name=default.name, out=default.out, backbone=default.backbone, input_size=160
    ) == replace(default, data_note=lite2.data_note)
    smooth = load_train_config(root / "smoothface-efficientnet-lite0.yaml")
    assert smooth.fakes == {"selfblend": 0.45, "upsampling": 0.15, "smoothface": 0.4}
    assert replace(smooth, name=default.name, out=default.out, fakes=default.fakes) == replace(
        default, data_note=smooth.data_note
    )
    only = load_train_config(root / "smoothface-only-efficientnet-lite0.yaml")
    assert (only.fakes, only.real_fakes, only.steps_per_epoch) == ({"smoothface": 1.0}, 0.0, 100)
    assert (
        replace(only, name=seams.name, out=seams.out, fakes=seams.fakes, data_note=seams.data_note)
        == seams
    )
    mix = load_train_config(root / "realworld-seams-mix.yaml")
    assert mix.real_fakes == 0.35
    assert replace(mix, name=default.name, out=default.out, real_fakes=0.65) == replace(
        default, data_note=mix.data_note
    )
    ablation = sorted((root / "ablation").glob("*.yaml"))
    assert len(ablation) == 7
    for path in ablation:
        config = load_train_config(path)
        assert config.validation_families() == ["selfblend", "upsampling", "autoencoder", "flicker"]


def test_a_run_can_start_from_a_trained_model(cache_dir: Path, tmp_path: Path) -> None:
    """init_from (a curriculum's second stage) starts from the first model's exact weights, says
    so in the card, and refuses a model whose network differs."""
    first = train(_config(cache_dir, tmp_path / "first", epochs=1), quiet=True)
    assert first.model_dir is not None
    started = initial_weights(str(first.model_dir), model_config_for(_config(cache_dir, tmp_path)))
    key = next(k for k in started if k.startswith("backbone.") and k.endswith("weight"))
    assert started[key].dtype == torch.float32

    out = tmp_path / "second"
    second = _config(cache_dir, out, epochs=1, steps_per_epoch=1, lr=0.0, warmup_fraction=0.0)
    result = train(replace(second, init_from=str(first.model_dir)), quiet=True)
    # lr 0: the second run's weights are the first's (BN running statistics still move) ...
    a = load_file(str(first.model_dir / "model.safetensors"))
    b = load_file(str(result.model_dir / "model.safetensors"))
    weights = [k for k in a if not k.endswith(BN_STATISTICS)]
    assert weights and all(torch.equal(a[k], b[k]) for k in weights)
    # ... and not those it would have started from without init_from
    torch.manual_seed(second.seed)
    fresh = build_network(model_config_for(second)).state_dict()
    assert not torch.allclose(fresh[key].half(), a[key])

    recorded = json.loads((out / "model" / "config.json").read_text())["training"]["init_from"]
    assert recorded["sha256"] == load_classifier(str(first.model_dir)).info.sha256
    assert "started from the trained model" in (out / "model" / "MODEL_CARD.md").read_text()

    with pytest.raises(ConfigError, match="hidden 8 ≠ 12"):
        initial_weights(str(first.model_dir), model_config_for(replace(second, hidden=12)))
    with pytest.raises(ConfigError, match="init_from"):
        train(replace(second, init_from=str(tmp_path / "nowhere")), quiet=True)


# Every device and mixed precision this host has: the CPU's bf16 autocast everywhere, and CUDA's
# bf16 and fp16 (with loss scaling) where a GPU is (benchmarks/gpu_check.sh runs this file there).
MIXED_PRECISION_RUNS = [("cpu", "bf16")] + (
    [("cuda", "bf16"), ("cuda", "fp16")] if torch.cuda.is_available() else []
)


@pytest.mark.parametrize(("device", "precision"), MIXED_PRECISION_RUNS)
def test_a_mixed_precision_run_resumes_and_its_model_serves(
    cache_dir: Path, tmp_path: Path, device: str, precision: str
) -> None:
    out = tmp_path / "run"
    config = _config(cache_dir, out, epochs=1, device=device, precision=precision)
    first = train(config, quiet=True)
    assert first.device.startswith(device) and first.precision == precision
    result = train(replace(config, epochs=2), resume=True, quiet=True)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert all(math.isfinite(h["loss"]) for h in result.history)

    weights = load_file(str(out / "model" / "model.safetensors"))
    assert all(torch.isfinite(t.float()).all() for t in weights.values())
    clf = load_classifier(str(out / "model"), device=device)
    scores = clf.score_clip([_crop(astronaut(), ASTRONAUT_FACE, 0, 0, 80) for _ in range(3)])
    assert 0.0 <= scores.fake_probability <= 1.0
