"""training/logo.py: the landmark scorer's C — refitting the folds' scorers from the crop cache
(no fold models), choosing C on the folds (and nested), and the shipped member fitted with the
report's C; scripts/logo_table.py's options for it."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_trainer import SIZE, _config, _crop

from cache_factory import video_entry
from deepfake_detector.models.checkpoints import load_checkpoint
from deepfake_detector.models.ensemble import MEMBERS_NAME, LandmarkMember
from deepfake_detector.training.config import TrainConfig, load_train_config
from deepfake_detector.training.crop_cache import CropCache
from deepfake_detector.training.data import make_datasets, split_cache
from deepfake_detector.training.landmarks import fit_on_tracks
from deepfake_detector.training.logo import (
    FoldScores,
    calibrate_model,
    choose_landmark_regularisation,
    logo_report,
    refit_landmarks,
    report_markdown,
    score_fold,
    write_report,
)
from deepfake_detector.training.trainer import train

from video_factory import ASTRONAUT_FACE, GRACE_HOPPER_FACE, astronaut, grace_hopper

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import logo_table

FRAMES = 8
FACE = np.array([[20, 24], [44, 24], [32, 34], [24, 46], [40, 46]], np.float64)
"""Five landmarks (eyes, nose, mouth corners) in a 64 px crop."""


def _write_landmark_cache(folder: Path) -> Path:
    """8 real videos of 8 identities and 2 fake videos for each of two generator families;
    one track of 8 frames each, 0.25 s apart (one fake also has an inset). The fakes' mouths
    open and close; the reals' faces only jitter."""
    (folder / "crops").mkdir(parents=True)
    (folder / "cache.json").write_text(
        json.dumps({"format": 1, "spec": {"size": SIZE, "margin": 0.25, "align": True}})
    )
    photos = [(astronaut(), ASTRONAUT_FACE), (grace_hopper(), GRACE_HOPPER_FACE)]
    rng = np.random.default_rng(1)
    items = [(f"real{g}.mp4", 0, "real", f"id{g}") for g in range(8)]
    items += [(f"{m}{k}.mp4", 1, m, f"{m}-{k}") for m in ("gen_a", "gen_b") for k in range(2)]
    lines = []
    for n, (path, label, method, group) in enumerate(items):
        photo, box = photos[n % 2]
        crops = [_crop(photo, box, int(d), 0, SIZE) for d in rng.integers(-4, 5, FRAMES)]
        points = FACE + rng.normal(0, 0.4, (FRAMES, 5, 2))
        if label:
            opening = 3.0 * np.sin(np.arange(FRAMES) * rng.uniform(1.0, 2.0))
            points[:, 3, 0] -= opening
            points[:, 4, 0] += opening
        file = f"crops/{Path(path).stem}.npz"
        times = np.arange(FRAMES, dtype=np.float32) * 0.25
        track, sides = np.zeros(FRAMES, np.int16), np.full(FRAMES, 60.0, np.float32)
        if path == "gen_a0.mp4":
            # Track 0 is a still inset (the demo's reference picture), a quarter of the face's
            # size: not the fake, so neither trained nor scored; the fake face is track 1.
            crops = [_crop(*photos[1], 0, 0, SIZE)] * FRAMES + crops
            points = np.concatenate([np.broadcast_to(FACE, (FRAMES, 5, 2)), points])
            times = np.tile(times, 2)
            track = np.repeat(np.arange(2, dtype=np.int16), FRAMES)
            sides = np.concatenate([np.full(FRAMES, 15.0, np.float32), sides])
        np.savez_compressed(
            folder / file,
            crops=np.stack(crops).astype(np.uint8),
            landmarks=points.astype(np.float32),
            track=track,
            time_s=times,
            face_px=sides,
        )
        tracks = len(np.unique(track))
        lines.append(json.dumps(video_entry(path, label, method, group, file, len(track), tracks)))
    (folder / "entries.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def fold_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    """(cache, the recipe's YAML, one trained run per held-out family)."""
    root = tmp_path_factory.mktemp("logo-landmarks")
    cache = _write_landmark_cache(root / "cache")
    recipe = _config(cache, root / "unused", epochs=1, real_fakes=0.5)
    config_path = root / "recipe.yaml"
    config_path.write_text(yaml.safe_dump(recipe.to_dict()))
    runs = []
    for held in ("gen_a", "gen_b"):
        config = replace(recipe, out=str(root / held), holdout_families=[held])
        runs.append(train(config, quiet=True).model_dir.parent)
    return cache, config_path, runs


def test_refit_landmarks_reproduces_the_folds_own_scorers(
    fold_runs: tuple[Path, Path, list[Path]],
) -> None:
    """Refitted from the crop cache and the recipe alone, each fold's landmark logits are the
    ones ``score_fold`` fitted on that fold's own split, at any C (the inset scored by
    neither)."""
    _cache, config_path, runs = fold_runs
    for c in (1.0, 0.01):
        folds = [score_fold(run, landmark_regularisation=c) for run in runs]
        assert sum(f.paths.count("gen_a0.mp4") for f in folds) == 1
        assert all(np.isfinite(f.landmark_logits).all() for f in folds)
        stripped = [replace(f, landmark_logits=None) for f in folds]
        for fold, refit in zip(folds, refit_landmarks(stripped, config_path, c), strict=True):
            np.testing.assert_allclose(refit.landmark_logits, fold.landmark_logits, atol=1e-9)
            np.testing.assert_array_equal(refit.logits, fold.logits)  # the texture stays
    strong, weak = (refit_landmarks(stripped, config_path, c)[0] for c in (1.0, 0.001))
    assert np.abs(weak.landmark_logits).max() < np.abs(strong.landmark_logits).max()


def test_refit_landmarks_refuses_a_split_that_is_not_the_folds(
    fold_runs: tuple[Path, Path, list[Path]],
) -> None:
    cache, config_path, runs = fold_runs
    fold = score_fold(runs[0], landmarks=False)
    config = replace(load_train_config(config_path), holdout_families=fold.holdout)
    split = split_cache(CropCache(cache), config)
    trained_group = split.entries[split.train[0].entry].group
    leaked = replace(fold, groups=[trained_group, *fold.groups[1:]])
    with pytest.raises(ValueError, match="training split"):
        refit_landmarks([leaked], config_path, 0.1)
    missing = replace(fold, paths=["nowhere.mp4", *fold.paths[1:]])
    with pytest.raises(ValueError, match="not in the crop cache"):
        refit_landmarks([missing], config_path, 0.1)


def test_calibrate_model_fits_the_member_with_the_reports_c(
    fold_runs: tuple[Path, Path, list[Path]], tmp_path: Path
) -> None:
    cache, _config_path, runs = fold_runs
    folds = [score_fold(run, landmark_regularisation=0.01) for run in runs]
    report = logo_report(folds, landmark_regularisation=0.01)
    assert report["stacking"]["landmark_regularisation"] == 0.01
    assert "the landmark scorer's C 0.01" in report_markdown(report)
    model = runs[0] / "model"
    calibrate_model(report, model, ensemble=True)
    member = LandmarkMember.load(model / MEMBERS_NAME)
    loaded = load_checkpoint(model)
    config = TrainConfig.from_dict(loaded.config.training["config"])
    train_set, _, _ = make_datasets(config, loaded.config)
    tracks = train_set.tracks + train_set.fake_tracks
    expected = {c: fit_on_tracks(cache, train_set.entries, tracks, c) for c in (0.01, 1.0)}
    assert member.scorer.coef == pytest.approx(expected[0.01].coef)
    assert member.scorer.coef != pytest.approx(expected[1.0].coef)


def _fold(name: str, rng: np.random.Generator, landmark_signal: float) -> FoldScores:
    labels = np.r_[np.zeros(30, int), np.ones(20, int)]
    n = len(labels)
    return FoldScores(
        name,
        [name],
        rng.normal(0, 1, n) + labels,
        labels,
        ["" if y == 0 else name for y in labels],
        [f"{name}/{k}.mp4" for k in range(n)],
        ["video"] * n,
        [f"{name}-{k}" for k in range(n)],
        rng.normal(0, 1, n) + landmark_signal * labels,
    )


def test_choose_landmark_regularisation_and_its_nested_figures() -> None:
    """The C whose combination has the lower log loss is chosen; with one C in the grid the
    nested figures are that C's own (each fold's choice is forced)."""
    names = ("gen_a", "gen_b", "gen_c")
    informative = [_fold(n, np.random.default_rng(k), 3.0) for k, n in enumerate(names)]
    noise = [_fold(n, np.random.default_rng(10 + k), 0.0) for k, n in enumerate(names)]
    noise = [replace(f, logits=g.logits) for f, g in zip(noise, informative, strict=True)]
    choice = choose_landmark_regularisation({0.1: informative, 1.0: noise})
    assert [r["c"] for r in choice["grid"]] == [1.0, 0.1]
    assert choice["chosen"] == 0.1
    assert choice["nested"]["choices"] == dict.fromkeys(names, 0.1)
    alone = choose_landmark_regularisation({0.1: informative})
    (row,) = alone["grid"]
    for key in ("auc", "ece", "log_loss"):
        assert alone["nested"][key] == pytest.approx(row[key])
    combined = logo_report(informative)["combined"]["pooled"]
    assert row["log_loss"] == pytest.approx(combined["log_loss_cross_fitted"])
    report = logo_report(informative) | {"landmark_regularisation_choice": choice}
    text = report_markdown(report)
    assert "| 0.1 (chosen) |" in text and "Nested (each fold scored" in text


def test_logo_table_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fold_runs: tuple[Path, Path, list[Path]]
) -> None:
    """``--reuse`` keeps the C the stored logits were fitted with; ``--refit-landmarks``
    refits at ``--landmark-c`` or at the C it chooses; misuse is refused."""
    _cache, config_path, runs = fold_runs
    folds = [score_fold(run, landmark_regularisation=0.5) for run in runs]
    path = tmp_path / "logo.json"
    write_report(logo_report(folds, landmark_regularisation=0.5), path)
    assert logo_table.main([str(tmp_path), "--reuse"]) == 0
    assert json.loads(path.read_text())["stacking"]["landmark_regularisation"] == 0.5
    refit = ["--reuse", "--refit-landmarks", str(config_path)]
    assert logo_table.main([str(tmp_path), *refit, "--landmark-c", "0.01"]) == 0
    written = json.loads(path.read_text())
    assert written["stacking"]["landmark_regularisation"] == 0.01
    assert "landmark_regularisation_choice" not in written
    assert logo_table.main([str(tmp_path), *refit]) == 0
    written = json.loads(path.read_text())
    choice = written["landmark_regularisation_choice"]
    assert written["stacking"]["landmark_regularisation"] == choice["chosen"]
    assert choice["nested"] is None  # two folds: too few to choose on the others
    assert "(chosen)" in capsys.readouterr().out
    for bad in (["--refit-landmarks", str(config_path)], ["--reuse", "--landmark-c", "0.1"]):
        with pytest.raises(SystemExit) as exc:
            logo_table.main([str(tmp_path), *bad])
        assert exc.value.code == 2


def test_refit_landmarks_over_a_window_of_each_track(
    fold_runs: tuple[Path, Path, list[Path]],
) -> None:
    """``window_s`` reads each track's first seconds only: a window longer than the tracks
    (8 frames, 0.25 s apart) changes nothing; one of 1 s leaves 4 frames, too few to score."""
    _cache, config_path, runs = fold_runs
    folds = [score_fold(run, landmark_regularisation=0.1) for run in runs]
    whole = refit_landmarks(folds, config_path, 0.1, window_s=10.0)
    for fold, refit in zip(folds, whole, strict=True):
        np.testing.assert_allclose(refit.landmark_logits, fold.landmark_logits, atol=1e-9)
    with pytest.raises(ValueError, match="no video tracks of both classes"):
        refit_landmarks(folds, config_path, 0.1, window_s=1.0)
    missing = replace(folds[0], paths=[folds[0].paths[0]] * 2 + folds[0].paths[2:])
    with pytest.raises(ValueError, match="track"):
        refit_landmarks([missing], config_path, 0.1)


def test_logo_table_drops_the_faces_a_report_counted_before_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fold_runs: tuple[Path, Path, list[Path]]
) -> None:
    """A report written before ``training/track_labels.py`` scored the inset of gen_a0.mp4 as
    a fake (its first row: faces are scored in track order); ``--drop-left-out`` removes it."""
    cache, _config_path, runs = fold_runs
    folds = [score_fold(run, landmarks=False) for run in runs]
    held = next(f for f in folds if "gen_a0.mp4" in f.paths)
    k = held.paths.index("gen_a0.mp4")

    def twice(values: list) -> list:
        return [*values[:k], values[k], *values[k:]]

    before = FoldScores(
        held.name,
        held.holdout,
        np.insert(held.logits, k, 9.0),
        np.insert(held.labels, k, 1),
        twice(held.families),
        twice(held.paths),
        twice(held.kinds),
        twice(held.groups),
    )
    path = tmp_path / "logo.json"
    write_report(logo_report([before if f is held else f for f in folds]), path)
    assert logo_table.main([str(tmp_path), "--reuse", "--drop-left-out", str(cache)]) == 0
    assert "left out: gen_a0.mp4 face 0 (inset)" in capsys.readouterr().err
    clips = {c["fold"]: c for c in json.loads(path.read_text())["clips"]}[held.name]
    assert clips["path"].count("gen_a0.mp4") == 1
    assert clips["texture_logit"] == pytest.approx(held.logits.tolist())
    with pytest.raises(SystemExit) as exc:
        logo_table.main([str(tmp_path), "--drop-left-out", str(cache)])
    assert exc.value.code == 2
