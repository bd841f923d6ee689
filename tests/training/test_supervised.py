"""Learning from labelled fakes: identity- and generator-disjoint splits, family-balanced draws,
leave-one-generator-out runs and their report, and the augmentations both classes share."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from test_trainer import SIZE, _config, _crop, write_cache

from deepfake_detector.models.checkpoints import load_checkpoint
from deepfake_detector.training.calibration import expected_calibration_error
from deepfake_detector.training.config import AugmentConfig, ConfigError, TrainConfig
from deepfake_detector.training.crop_cache import CropCache
from deepfake_detector.training.data import (
    augment_clip,
    blur_to_sharpness,
    crop_sharpness,
    family_of,
    make_datasets,
    matched_sharpness,
    model_config_for,
    split_cache,
)
from deepfake_detector.training.logo import (
    BAND_LIMITS,
    RUN_AVERAGE_RULE,
    FoldScores,
    averaged_runs,
    band_from_scores,
    calibrate_model,
    combination_helps,
    folds_from_report,
    isotonic_check,
    logo_report,
    plot_reliability,
    report_markdown,
    run_average_helps,
    score_fold,
    temperature_check,
    write_report,
)
from deepfake_detector.training.shortcut_probe import probe_markdown, shortcut_probe
from deepfake_detector.training.trainer import train

from video_factory import ASTRONAUT_FACE, GRACE_HOPPER_FACE, astronaut, grace_hopper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import logo_table

FAMILIES = {"gen_a": ["a1", "a2"], "gen_b": ["b1", "b2"]}
"""Generator family → identity groups of its fakes."""


def _append_fakes(cache: Path) -> None:
    """Labelled fakes of two generator families (blurred, tinted crops stand in for generated
    faces), two identity groups each, one of which shares its group with a real original."""
    photos = [(astronaut(), ASTRONAUT_FACE), (grace_hopper(), GRACE_HOPPER_FACE)]
    lines = []
    for family, groups in FAMILIES.items():
        for g, group in enumerate(groups):
            photo, box = photos[g % 2]
            crops = [_crop(photo, box, 4 * k, 0, SIZE) for k in range(3)]
            tint = np.array([30, 0, 0])
            crops = [np.clip(c.astype(int) + tint, 0, 255).astype(np.uint8) for c in crops]
            file = f"crops/{family}_{group}.npz"
            np.savez_compressed(
                cache / file,
                crops=np.stack(crops),
                landmarks=np.full((3, 5, 2), np.nan, np.float32),
                track=np.zeros(3, np.int16),
                time_s=np.arange(3, dtype=np.float32),
            )
            lines.append(
                {
                    "path": f"{family}__{group}.mp4",
                    "label": 1,
                    "kind": "video",
                    "source": f"{family}_source",
                    "method": family,
                    # a1 is made from the real identity id1: they must stay together.
                    "group": "id1" if group == "a1" else group,
                    "split": "",
                    "extra": {},
                    "file": file,
                    "crops": 3,
                    "tracks": 1,
                    "error": None,
                }
            )
    with (cache / "entries.jsonl").open("a") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")


@pytest.fixture(scope="module")
def labelled_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = write_cache(tmp_path_factory.mktemp("labelled") / "cache")
    _append_fakes(cache)
    return cache


def test_holdout_family_and_its_identities_never_trained_on(
    labelled_cache: Path, tmp_path: Path
) -> None:
    config = _config(labelled_cache, tmp_path, real_fakes=0.5, holdout_families=["gen_a"])
    split = split_cache(CropCache(labelled_cache), config)
    train_entries = [split.entries[t.entry] for t in split.train + split.train_fake]
    val_entries = [split.entries[t.entry] for t in split.val + split.val_fake]
    assert not {family_of(e) for e in train_entries if e.label == 1} & {"gen_a"}
    assert {e.path for e in val_entries} >= {"gen_a__a1.mp4", "gen_a__a2.mp4"}
    # The real original sharing a held-out fake's identity is validated on, never trained on.
    assert "id1" not in {e.group for e in train_entries}
    assert "id1" in {e.group for e in val_entries}
    assert not {e.group for e in train_entries} & {e.group for e in val_entries}

    with pytest.raises(ConfigError, match="gen_z"):
        split_cache(
            CropCache(labelled_cache), _config(labelled_cache, tmp_path, holdout_families=["gen_z"])
        )
    every = sorted({family_of(e) for e in CropCache(labelled_cache).entries() if e.label == 1})
    assert {"gen_a", "gen_b"} <= set(every)
    with pytest.raises(ConfigError, match="no labelled fakes"):
        split_cache(
            CropCache(labelled_cache),
            _config(labelled_cache, tmp_path, real_fakes=0.5, holdout_families=every),
        )


def test_split_seed_keeps_the_held_out_faces_whatever_the_training_seed(
    labelled_cache: Path, tmp_path: Path
) -> None:
    def held_out(config: TrainConfig) -> list[tuple[int, int]]:
        split = split_cache(CropCache(labelled_cache), config)
        return sorted((t.entry, t.track_id) for t in split.val + split.val_fake)

    first = _config(labelled_cache, tmp_path, real_fakes=0.5)  # seed 3
    rerun = _config(labelled_cache, tmp_path, real_fakes=0.5, seed=4, split_seed=3)
    assert rerun.validation_seed == 3 and first.validation_seed == 3
    # Without split_seed, another seed draws other held-out identities; with it, the same.
    assert held_out(_config(labelled_cache, tmp_path, real_fakes=0.5, seed=4)) != held_out(first)
    assert held_out(rerun) == held_out(first)

    train_a, val_a, _ = make_datasets(first, model_config_for(first))
    train_b, val_b, _ = make_datasets(rerun, model_config_for(rerun))
    assert val_a.fixed == val_b.fixed
    for index in range(len(val_a.fixed or [])):  # synthesised validation fakes drawn alike
        assert torch.equal(val_a[index][0], val_b[index][0])
    train_a.set_epoch(0)
    train_b.set_epoch(0)
    assert any(not torch.equal(train_a[i][0], train_b[i][0]) for i in range(4))

    assert TrainConfig.from_dict(rerun.to_dict()).split_seed == 3
    for bad in ("3", -1, True):
        with pytest.raises(ConfigError, match="split_seed"):
            _config(labelled_cache, tmp_path, split_seed=bad)


def test_labelled_fakes_are_drawn_family_balanced(labelled_cache: Path, tmp_path: Path) -> None:
    config = _config(
        labelled_cache, tmp_path, real_fakes=1.0, fake_probability=0.5, single_frame_p=0.3
    )
    train_set, val_set, counts = make_datasets(config, model_config_for(config))
    assert counts["train_fake_tracks"] + counts["val_fake_tracks"] == 5  # 4 + fake.mp4
    assert train_set.real_family_names  # labelled families come after the synthesised ones
    train_set.set_epoch(0)
    drawn = [train_set[i] for i in range(120)]
    families = {train_set.family_names[f] for _, _, y, f in drawn if y == 1}
    assert families == set(train_set.real_family_names)  # real_fakes=1: never synthesised
    assert {length for _, length, _, _ in drawn} == {1, 2}  # single frames for both classes
    assert {y for _, length, y, _ in drawn if length == 1} == {0, 1}
    # Validation: every labelled fake track once, with its own family.
    fake_plan = [(t, f) for t, f in val_set.fixed if t >= len(val_set.tracks)]
    assert len(fake_plan) == counts["val_fake_tracks"]
    for index, (t, f) in enumerate(val_set.fixed):
        if t >= len(val_set.tracks):
            assert val_set[index][2] == 1
            entry = val_set.entries[val_set.track(t).entry]
            assert val_set.family_names[f] == family_of(entry)


def test_blur_to_sharpness_and_quantile_matching() -> None:
    crop = _crop(astronaut(), ASTRONAUT_FACE, 0, 0, 96)
    sharp = crop_sharpness(crop)
    out = blur_to_sharpness([crop, crop], sharp - 1.0)
    assert len(out) == 2 and abs(crop_sharpness(out[1]) - (sharp - 1.0)) < 0.15
    unchanged = [crop]
    assert blur_to_sharpness(unchanged, sharp + 0.5) is unchanged  # blurring cannot sharpen
    fakes, reals = np.linspace(5.0, 6.0, 101), np.linspace(4.0, 5.0, 101)
    assert matched_sharpness(5.5, fakes, reals) == pytest.approx(4.5, abs=0.02)
    assert matched_sharpness(9.0, fakes, reals) == pytest.approx(5.0)
    assert matched_sharpness(1.0, fakes, reals) == pytest.approx(4.0)


def test_labelled_fakes_are_blurred_to_the_reals_sharpness(
    labelled_cache: Path, tmp_path: Path
) -> None:
    off = {"hflip": 0.0, "jpeg_p": 0.0, "jitter_p": 0.0}
    common = dict(real_fakes=1.0, fake_probability=0.99, single_frame_p=0.0)
    plain = _config(labelled_cache, tmp_path, augment=off, **common)
    matched = _config(labelled_cache, tmp_path, augment=off | {"match_sharpness_p": 1.0}, **common)
    a, _, _ = make_datasets(plain, model_config_for(plain))
    b, _, _ = make_datasets(matched, model_config_for(matched))
    assert len(a.real_sharpness) == 0 and len(a.fake_sharpness) == 0  # off: nothing measured
    assert len(b.real_sharpness) == len(b.tracks) and len(b.fake_sharpness) == len(b.fake_tracks)
    b.real_sharpness = np.full(3, b.fake_sharpness.min() - 1.0)  # every real blurrier
    a.set_epoch(0)
    b.set_epoch(0)

    def detail(frames: torch.Tensor) -> float:
        return float(np.abs(np.diff(frames[0, 1].numpy(), axis=1)).mean())

    for i in range(6):
        (xa, _, ya, fa), (xb, _, yb, fb) = a[i], b[i]
        assert ya == yb == 1 and fa == fb  # the same labelled fake, the same frames
        assert detail(xb) < 0.9 * detail(xa)


def test_sharpness_gap_script(labelled_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import sharpness_gap  # lives in scripts/, put on the path above

    assert sharpness_gap.main([str(labelled_cache), "--size", "64"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| fake: gen_")]
    assert [r.split(" | ")[0] for r in rows] == ["| fake: gen_a", "| fake: gen_b"]
    assert "| real: other videos |" in out and "Sharpness alone, fakes against reals: AUC" in out
    assert sharpness_gap.main([str(labelled_cache.parent / "missing")]) != 0


def test_fold_reals_of_a_training_config(labelled_cache: Path, tmp_path: Path) -> None:
    """``fold_reals.py --config``: the real videos a config's own split validates on (the
    held-out identities of the model it trains), never one it trains on."""
    import yaml

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import fold_reals  # lives in scripts/, put on the path above

    config = _config(labelled_cache, tmp_path / "run", real_fakes=0.5)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config.to_dict()))
    split = split_cache(CropCache(labelled_cache), config)
    entries = split.entries
    validated = {entries[t.entry].path for t in split.val if entries[t.entry].item.kind == "video"}
    trained = {entries[t.entry].path for t in split.train}
    found = fold_reals.config_reals(config_path)
    assert found == sorted(validated) and found and not set(found) & trained

    index = tmp_path / "index.jsonl"
    index.write_text((labelled_cache / "entries.jsonl").read_text())
    out = tmp_path / "reals.jsonl"
    argv = ["--config", str(config_path), "--index", str(index), "--root", str(tmp_path)]
    assert fold_reals.main([*argv, "--out", str(out)]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path(r["path"]).name for r in written] == found
    assert all(r["label"] == 0 and Path(r["path"]).is_absolute() for r in written)


def test_logo_fold_runs_and_report(
    labelled_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folds = []
    for held in ("gen_a", "gen_b"):
        out = tmp_path / held
        config = _config(labelled_cache, out, epochs=1, real_fakes=0.5, holdout_families=[held])
        result = train(config, quiet=True)
        per_family = result.history[-1]["val"]["per_family"]
        assert per_family[held]["held_out"] is True
        assert all(not v["held_out"] for k, v in per_family.items() if k != held)
        card = (result.model_dir / "MODEL_CARD.md").read_text()
        assert f"{held} (held out)" in card
        folds.append(score_fold(out))
    assert folds[0].holdout == ["gen_a"]
    assert set(folds[0].families) == {"", "gen_a"}  # only reals and the held-out family
    # Every family's clips, and a further network scoring them alike (here the fold's own).
    own = load_checkpoint(tmp_path / "gen_a" / "model").network.float()
    everything = score_fold(tmp_path / "gen_a", also=[own], every_family=True, landmarks=False)
    assert everything.holdout == ["gen_a"] and everything.landmark_logits is None
    assert {"", "gen_a", "gen_b"} <= set(everything.families)
    assert everything.also_logits.shape == (1, len(everything.logits))
    np.testing.assert_allclose(everything.also_logits[0], everything.logits, atol=1e-5)
    video = everything.restricted_to_videos()
    assert video.also_logits.shape == (1, len(video.logits))
    report = logo_report(folds)
    assert [r["family"] for r in report["families"]] == ["gen_a", "gen_b"]
    assert all(r["n_fake"] == 2 for r in report["families"])
    assert report["temperature"] > 0
    assert (
        BAND_LIMITS[0] <= report["band"]["low"] <= 0.5 <= report["band"]["high"] <= BAND_LIMITS[1]
    )
    text = report_markdown(report)
    assert "| gen_a | gen_a | 2 |" in text and "Borderline band" in text
    assert "combined" not in report  # the photo crops carry no landmarks: no second scorer

    _second_model_table(tmp_path, capsys)
    stored = calibrate_model(report, tmp_path / "gen_a" / "model")
    assert stored.temperature == pytest.approx(report["temperature"])
    assert stored.band == (report["band"]["low"], report["band"]["high"])
    assert stored.ece == pytest.approx(report["pooled"]["ece_cross_fitted"])
    assert "leave-one-generator-out" in stored.training["calibration"]["data"]


def _second_model_table(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """scripts/logo_second_model.py on the fold runs, with fold gen_a's own model as the second
    model: on that fold all three columns rank alike, so their AUCs are equal."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import logo_second_model  # lives in scripts/, put on the path above

    capsys.readouterr()
    assert logo_second_model.main([str(runs), str(runs / "gen_a" / "model")]) == 0
    rows = [r.split(" | ") for r in capsys.readouterr().out.splitlines()[2:]]
    assert {(r[0].lstrip("| "), r[1]) for r in rows if "held out" in r[2]} == {
        ("gen_a", "gen_a"),
        ("gen_b", "gen_b"),
    }
    for row in rows:
        if row[0] == "| gen_a":
            fold, second, both = (float(x.strip(" |")) for x in row[4:7])
            assert fold == second == both
    assert logo_second_model.main([str(runs), "no-such-model"]) == 2
    # The shipped models take 160 px crops, these runs 64 px ones: refused, not mis-scored.
    assert logo_second_model.main([str(runs), "selfblend-efficientnet-lite0-cpu"]) == 2
    assert "takes other crops" in capsys.readouterr().err
    assert logo_second_model.main([str(runs / "nothing"), "default"]) == 2


def test_combination_rule() -> None:
    def report(texture: float, combined: float, swap: float, swap_combined: float) -> dict:
        return {
            "pooled": {"auc": texture},
            "families": [{"family": "deepfacelive", "auc": swap}],
            "combined": {
                "pooled": {"auc": combined},
                "families": [{"family": "deepfacelive", "auc": swap_combined}],
            },
        }

    assert combination_helps(report(0.80, 0.85, 0.70, 0.69))
    assert not combination_helps(report(0.80, 0.85, 0.70, 0.60))  # costs the face swaps
    assert not combination_helps(report(0.85, 0.80, 0.70, 0.75))
    assert not combination_helps({"pooled": {"auc": 0.8}, "families": []})


def test_band_from_scores() -> None:
    rng = np.random.default_rng(0)
    real = rng.uniform(0.0, 0.6, 500)
    fake = rng.uniform(0.4, 1.0, 500)
    labels = np.r_[np.zeros(500, int), np.ones(500, int)]
    low, high = band_from_scores(labels, np.r_[real, fake])
    # Overlap is [0.4, 0.6]: 90 % purity needs roughly [0.42, 0.58] and nothing wider.
    assert 0.38 <= low <= 0.45 and 0.55 <= high <= 0.62
    separated = band_from_scores(labels, np.r_[real * 0.5, 0.7 + fake * 0.3])
    assert separated == (0.5, 0.5)
    assert band_from_scores(np.zeros(3, int), np.ones(3) * 0.5) == BAND_LIMITS


def test_shared_augmentations_keep_shape_and_apply_to_the_whole_clip() -> None:
    rng = np.random.default_rng(1)
    crops = [_crop(astronaut(), ASTRONAUT_FACE, 2 * k, 0, 63) for k in range(4)]
    cfg = AugmentConfig(
        hflip=0.0, jpeg_p=0.0, jitter_p=0.0, rescale_p=1.0, blur_p=1.0, video_p=1.0, grayscale_p=1.0
    )
    out = augment_clip(crops, rng, cfg)
    assert len(out) == 4 and all(x.shape == (63, 63, 3) and x.dtype == np.uint8 for x in out)
    for x in out:  # grey: three (nearly) equal channels even after the H.264 round trip
        assert np.abs(x[..., 0].astype(int) - x[..., 2].astype(int)).mean() < 3
    # Rescale + blur remove detail: less high-frequency energy than the original.
    lap = [np.abs(np.diff(x.astype(float)[..., 1], axis=1)).mean() for x in (crops[0], out[0])]
    assert lap[1] < lap[0]
    # All off: the clip is returned unchanged.
    off = AugmentConfig(hflip=0.0, jpeg_p=0.0, jitter_p=0.0)
    assert all(
        np.array_equal(a, b) for a, b in zip(augment_clip(crops, rng, off), crops, strict=True)
    )
    assert AugmentConfig(video_crf=(40, 20)).problems() == [
        "augment.video_crf must be [low, high] with 0 <= low <= high <= 51"
    ]


def test_logo_rows_say_how_the_originals_score() -> None:
    """Fakes with their own originals: besides the pairs' AUC, the median scores of the fakes,
    their originals and the other reals (originals scored like their fakes, far above the other
    reals, mean the model reads the footage, not the manipulation)."""
    logits = np.array([2.0, 2.2, 1.8, -2.0, -2.5, -1.0, 1.0, 1.2, 0.8])
    fold = FoldScores(
        "swaps",
        ["swap"],
        logits,
        np.r_[np.zeros(6, int), np.ones(3, int)],
        [""] * 6 + ["swap"] * 3,
        [f"{k}.mp4" for k in range(9)],
        ["video"] * 9,
        groups=["p0", "p1", "p2", "o3", "o4", "o5", "p0", "p1", "p2"],
    )
    (row,) = logo_report([fold])["families"]
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    assert row["pairs_n_real"] == 3 and row["pairs_auc"] == 0.0
    assert row["median_fake"] == pytest.approx(sigmoid(1.0))
    assert row["median_originals"] == pytest.approx(sigmoid(2.0))
    assert row["median_other_reals"] == pytest.approx(sigmoid(-2.0))
    assert row["median_real"] == pytest.approx(float(np.median(sigmoid(logits[:6]))))
    text = report_markdown(logo_report([fold]))
    assert (
        "- swap (fold swaps): its fakes 0.731, their own originals 0.881, the other reals 0.119"
        in text
    )


def _video_fold(
    name: str, texture: np.ndarray, labels: np.ndarray, landmarks: np.ndarray
) -> FoldScores:
    """A fold holding out ``name``: one video clip per score, each its own identity."""
    n = len(labels)
    return FoldScores(
        name,
        [name],
        texture,
        labels,
        ["" if y == 0 else name for y in labels],
        [f"{name}/{k}.mp4" for k in range(n)],
        ["video"] * n,
        groups=[f"{name}-{k}" for k in range(n)],
        landmark_logits=landmarks,
    )


def test_logo_report_with_a_second_scorer(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folds = []
    for name in ("gen_a", "gen_b", "gen_c"):
        labels = np.r_[np.zeros(30, int), np.ones(20, int)]
        texture = rng.normal(0, 1, 50) + 1.0 * labels
        landmarks = rng.normal(0, 1, 50) + 2.0 * labels
        landmarks[:5] = np.nan  # abstained
        folds.append(_video_fold(name, texture, labels, landmarks))
    report = logo_report(folds)
    assert set(report) >= {"landmarks", "combined", "stacking"}
    assert report["stacking"]["abstained_share"] == pytest.approx(0.1)
    assert [c["fold"] for c in report["clips"]] == ["gen_a", "gen_b", "gen_c"]
    assert all("pairs_auc" not in r for r in report["families"])  # no fake shares a real's group
    # The landmarks separate better here, and the combination uses them.
    assert report["combined"]["pooled"]["auc"] > report["pooled"]["auc"]
    assert report["stacking"]["landmark_logit"] > 0
    assert combination_helps(report)
    assert "| mean over talking heads |" in report_markdown(report)
    # The combining regression is the combination's calibration: it is measured as served
    # (the cross-fitted regression's own probabilities, no temperature on top).
    combined = report["combined"]
    assert combined["calibration"] == "as served" and combined["temperature"] == 1.0
    assert set(combined["fold_temperatures"].values()) == {1.0}
    assert report["calibration"] == "temperature"
    served = []
    for k, fold in enumerate(folds):
        others = [f for j, f in enumerate(folds) if j != k]
        x = np.concatenate(
            [
                np.c_[f.logits, np.nan_to_num(f.landmark_logits), np.isnan(f.landmark_logits)]
                for f in others
            ]
        )
        y = np.concatenate([f.labels for f in others])
        fit = LogisticRegression(C=1.0, max_iter=2000).fit(x, y)
        own = np.c_[
            fold.logits, np.nan_to_num(fold.landmark_logits), np.isnan(fold.landmark_logits)
        ]
        served.append(fit.predict_proba(own)[:, 1])
    labels = np.concatenate([f.labels for f in folds])
    assert combined["pooled"]["ece_cross_fitted"] == pytest.approx(
        expected_calibration_error(labels.tolist(), np.concatenate(served).tolist())
    )
    assert "Texture + landmarks combined" in report_markdown(report)
    # The isotonic check's "regression" is the combination as served.
    iso = report["isotonic_check"]
    assert iso["regression"]["ece"] == pytest.approx(combined["pooled"]["ece_cross_fitted"])
    assert iso["regression"]["auc"] == pytest.approx(combined["pooled"]["auc"])
    low, mid, high = iso["ece_gain_percentiles"]
    assert low <= mid <= high
    assert "An isotonic map on top of the combination" in report_markdown(report)
    # The report keeps its clips: recomputing it from them (no models) gives the same report.
    again = logo_report(folds_from_report(json.loads(json.dumps(report))))
    assert json.dumps(again, sort_keys=True) == json.dumps(report, sort_keys=True)
    png = plot_reliability(report, tmp_path / "reliability.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_isotonic_check_calibrates_a_step_the_regression_cannot() -> None:
    """Where the chance of a fake is a step in the logit (0.1 below 0, 0.9 above), a logistic
    regression is over-confident far from 0 and an isotonic map, fitted on other folds, is not."""
    rng = np.random.default_rng(3)
    folds = []
    for name in ("gen_a", "gen_b", "gen_c", "gen_d"):
        texture = rng.uniform(-6, 6, 400)
        labels = (rng.uniform(0, 1, 400) < np.where(texture > 0, 0.9, 0.1)).astype(int)
        folds.append(_video_fold(name, texture, labels, np.full(400, np.nan)))
    iso = isotonic_check(folds, resamples=200)
    assert iso["isotonic"]["ece"] < iso["regression"]["ece"] - 0.05
    assert iso["isotonic"]["log_loss"] < iso["regression"]["log_loss"]
    assert iso["ece_gain_percentiles"][0] > 0


def test_temperature_check_chooses_per_fold_on_the_other_folds() -> None:
    """Where every fold is over-confident alike, each fold's neighbours choose a temperature;
    where one fold's confident mistakes would soften the others' good scores, they choose none,
    and that beats a temperature cross-fitted regardless."""
    rng = np.random.default_rng(5)

    def fold(name: str, scale: float, informative: bool = True) -> FoldScores:
        truth = rng.normal(0, 2, 600)
        chance = 1 / (1 + np.exp(-truth)) if informative else np.full(600, 0.5)
        labels = (rng.uniform(0, 1, 600) < chance).astype(int)
        return _video_fold(name, scale * truth, labels, np.full(600, np.nan))

    alike = [fold(n, 4.0) for n in ("gen_a", "gen_b", "gen_c", "gen_d")]
    check = temperature_check(alike)
    assert check["folds_without_temperature"] == 0
    assert all(2.5 < c["temperature"] < 6 for c in check["folds"].values())
    assert check["log_loss"] < logo_report(alike)["pooled"]["log_loss_raw"] - 0.1

    disagree = [fold(n, 1.0) for n in ("gen_a", "gen_b", "gen_c")] + [fold("swap", 1.5, False)]
    check = temperature_check(disagree)
    report = logo_report(disagree)
    assert check["folds_without_temperature"] >= 3
    assert check["log_loss"] < report["pooled"]["log_loss_cross_fitted"]
    assert report["temperature_check"] == check
    assert "none in" in report_markdown(report)
    with pytest.raises(ValueError, match="three folds"):
        temperature_check(disagree[:2])


def test_averaged_runs_match_clips_across_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs' logits are averaged clip by clip whatever order each report lists them in (a
    video's faces by occurrence); averaging independent noise raises the AUC; runs that scored
    other clips are refused; ``logo_table.py --average`` writes the averaged report."""
    rng = np.random.default_rng(3)
    labels = np.r_[np.zeros(60, int), np.ones(40, int)]
    signal = 0.6 * labels
    names = ("gen_a", "gen_b", "gen_c")

    def run() -> list[FoldScores]:
        folds = []
        for name in names:
            fold = _video_fold(name, signal + rng.normal(0, 1, 100), labels, np.zeros(100))
            fold.paths[1] = fold.paths[0]  # one video, two faces
            folds.append(fold)
        return folds

    runs = [run() for _ in range(4)]
    shuffled = []
    for fold in runs[1]:
        order = list(rng.permutation(100))
        a, b = order.index(0), order.index(1)  # a video's faces stay in track order
        order[min(a, b)], order[max(a, b)] = 0, 1
        shuffled.append(fold.subset([int(k) for k in order]))
    averaged = averaged_runs([runs[0], shuffled, runs[2], runs[3]])
    for k, fold in enumerate(averaged):
        expected = np.mean([r[k].logits for r in runs], axis=0)
        np.testing.assert_allclose(fold.logits, expected)
        assert fold.paths == runs[0][k].paths
    single = logo_report(runs[0])["pooled"]["auc"]
    assert logo_report(averaged)["pooled"]["auc"] > single + 0.03

    with pytest.raises(ValueError, match="different clips"):
        averaged_runs([runs[0], [f.subset(range(99)) for f in runs[1]]])
    relabelled = [replace(f, labels=1 - f.labels) for f in runs[1]]
    with pytest.raises(ValueError, match="label"):
        averaged_runs([runs[0], relabelled])
    with pytest.raises(ValueError, match="missing"):
        averaged_runs([runs[0], runs[1][:2]])

    paths = []
    for k, r in enumerate(runs):
        paths.append(tmp_path / f"run{k}.json")
        write_report(logo_report(r), paths[-1])
    extra = [a for p in paths[1:] for a in ("--average", str(p))]
    assert logo_table.main([str(tmp_path), "--reuse", "--json", str(paths[0]), *extra]) == 0
    written = json.loads(paths[0].read_text())
    np.testing.assert_allclose(written["clips"][0]["texture_logit"], averaged[0].logits)
    out = capsys.readouterr().out
    assert (
        f"The average of 4 runs {'meets' if run_average_helps(written) else 'does not meet'}" in out
    )
    at_rule = {
        "pooled": {"auc": RUN_AVERAGE_RULE["pooled_auc"]},
        "families": [{"family": "deepfacelive", "auc": RUN_AVERAGE_RULE["face_swap_auc"]}],
        "talking_heads_mean_auc": RUN_AVERAGE_RULE["talking_heads_mean_auc"],
    }
    assert run_average_helps(at_rule)
    assert not run_average_helps(at_rule | {"families": [{"family": "deepfacelive", "auc": 0.5}]})
    assert not run_average_helps(at_rule | {"pooled": {"auc": 0.8}})
    with pytest.raises(SystemExit):
        logo_table.main([str(tmp_path), "--average", str(paths[1])])


def test_shortcut_probe_runs_on_the_training_split(labelled_cache: Path, tmp_path: Path) -> None:
    config = _config(labelled_cache, tmp_path, real_fakes=0.5)
    results = shortcut_probe(
        config, [[], ["gen_a"]], root=tmp_path
    )  # no media files: codec unknown
    assert [r["holdout"] for r in results] == [[], ["gen_a"]]
    for r in results:
        assert r["auc"] is None or 0.0 <= r["auc"] <= 1.0
        assert "sharpness" in r
    text = probe_markdown(results)
    assert "nothing (own split)" in text and "| gen_a |" in text
