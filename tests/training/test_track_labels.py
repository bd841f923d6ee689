"""Faces of a labelled fake that do not show the manipulation: insets and a swap demo's unswapped
person are left out of training and validation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_trainer import SIZE, _config, _crop, write_cache

from cache_factory import video_entry
from deepfake_detector.training.crop_cache import CachedCrops, CropCache
from deepfake_detector.training.data import split_cache
from deepfake_detector.training.logo import FoldScores, without_left_out
from deepfake_detector.training.track_labels import (
    LeftOut,
    inner_face_difference,
    left_out_tracks,
    shift_onto,
)

from video_factory import ASTRONAUT_FACE, GRACE_HOPPER_FACE, astronaut, grace_hopper

TIMES = np.array([0.0, 0.5, 1.0], np.float32)


def _faces(photo: np.ndarray, box: tuple[int, int, int, int], shift: int = 0) -> np.ndarray:
    return np.stack([_crop(photo, box, 2 * k + shift, 0, SIZE) for k in range(len(TIMES))])


def _track(
    crops: np.ndarray, track_id: int, face_px: float | None, times: np.ndarray = TIMES
) -> CachedCrops:
    n = len(crops)
    return CachedCrops(
        crops,
        np.full((n, 5, 2), np.nan, np.float32),
        np.full(n, track_id, np.int16),
        times,
        None if face_px is None else np.full(n, face_px, np.float32),
    )


def _noisy(crops: np.ndarray, seed: int) -> np.ndarray:
    """The same faces re-rendered: a little noise, as a re-encode or the tool's own output."""
    noise = np.random.default_rng(seed).normal(0, 6, crops.shape)
    return np.clip(crops + noise, 0, 255).astype(np.uint8)


def _other_face(k: int) -> np.ndarray:
    """Grace Hopper's crops, the stand-in for a swapped-in identity."""
    return _faces(grace_hopper(), GRACE_HOPPER_FACE, shift=k)


def test_an_inset_far_smaller_than_the_main_face_is_left_out() -> None:
    main = _track(_faces(astronaut(), ASTRONAUT_FACE), 0, 240.0)
    inset = _track(_other_face(0), 1, 60.0)
    assert left_out_tracks([main, inset]) == [LeftOut(1, "inset")]
    # Two people of about one size: both kept.
    other = _track(_other_face(0), 1, 150.0)
    assert left_out_tracks([main, other]) == []
    # One face: the label names it, however small.
    assert left_out_tracks([inset]) == []


def test_without_face_sizes_nothing_is_left_out_and_a_warning_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    main = _track(_faces(astronaut(), ASTRONAUT_FACE), 0, None)
    inset = _track(_other_face(0), 1, None)
    assert left_out_tracks([main, inset]) == []
    assert "no face sizes" in caplog.text


def test_the_unswapped_person_of_a_swap_demo_is_left_out() -> None:
    bystander = _faces(astronaut(), ASTRONAUT_FACE)
    target = _faces(astronaut(), ASTRONAUT_FACE, shift=30)
    original = [_track(bystander, 0, 120.0), _track(target, 1, 110.0)]
    # The swap half: the bystander re-rendered, the target's face replaced by another identity.
    swap = [_track(_noisy(bystander, 1), 0, 120.0), _track(_other_face(0), 1, 110.0)]
    assert left_out_tracks(swap, original) == [LeftOut(0, "unchanged")]
    # Without the original there is nothing to compare with: both kept.
    assert left_out_tracks(swap) == []
    # Faces seen at other instants than the original's are not compared.
    later = [_track(c.crops, int(c.track[0]), 120.0, TIMES + 0.25) for c in swap]
    assert left_out_tracks(later, original) == []


def test_inner_face_difference_ignores_a_shift_and_sees_another_face() -> None:
    a = _crop(astronaut(), ASTRONAUT_FACE, 0, 0, SIZE)
    shifted = _crop(astronaut(), ASTRONAUT_FACE, 2, 1, SIZE)
    other = _crop(grace_hopper(), GRACE_HOPPER_FACE, 0, 0, SIZE)
    assert inner_face_difference(a, a) == pytest.approx(0.0, abs=1e-3)
    assert inner_face_difference(a, shifted) < 0.5 * inner_face_difference(a, other)


def _append_swap_demo(cache: Path) -> None:
    """A swap half with two faces (the bystander unchanged) and its original, plus a generated
    clip with an inset; the labelled fakes share no identity group with the cache's reals."""
    bystander = _faces(astronaut(), ASTRONAUT_FACE)
    target = _faces(astronaut(), ASTRONAUT_FACE, shift=30)
    clips = {
        "orig.mp4": (0, "real", [(bystander, 120.0), (target, 110.0)], {}),
        "swap.mp4": (
            1,
            "swapper",
            [(_noisy(bystander, 1), 120.0), (_other_face(0), 110.0)],
            {"original": "orig.mp4"},
        ),
        "talking.mp4": (1, "talker", [(_other_face(1), 240.0), (_noisy(bystander, 2), 50.0)], {}),
    }
    with (cache / "entries.jsonl").open("a") as f:
        for path, (label, method, tracks, extra) in clips.items():
            file = f"crops/{path}.npz"
            np.savez_compressed(
                cache / file,
                crops=np.concatenate([c for c, _ in tracks]),
                landmarks=np.full((3 * len(tracks), 5, 2), np.nan, np.float32),
                track=np.repeat(np.arange(len(tracks), dtype=np.int16), 3),
                time_s=np.tile(TIMES, len(tracks)),
                face_px=np.repeat(np.array([s for _, s in tracks], np.float32), 3),
            )
            group = "talk" if path == "talking.mp4" else "demo"
            record = video_entry(path, label, method, group, file, 3 * len(tracks), len(tracks))
            f.write(json.dumps(record | {"extra": extra}) + "\n")


def test_split_leaves_those_faces_out_of_training_and_validation(tmp_path: Path) -> None:
    cache = write_cache(tmp_path / "cache")
    _append_swap_demo(cache)
    config = _config(cache, tmp_path, real_fakes=0.5, holdout_families=["swapper"])
    split = split_cache(CropCache(cache), config)
    assert sorted(split.left_out) == [("swap.mp4", 0, "unchanged"), ("talking.mp4", 1, "inset")]
    assert split.counts["fake_tracks_left_out"] == 2

    def tracks_of(tracks: list, path: str) -> set[int]:
        return {t.track_id for t in tracks if split.entries[t.entry].path == path}

    assert tracks_of(split.val_fake, "swap.mp4") == {1}  # held out: validated, swapped face only
    assert tracks_of(split.train_fake, "talking.mp4") == {0}
    assert tracks_of(split.val, "orig.mp4") == {0, 1}  # the original's faces are all real


def test_a_report_written_before_the_rule_drops_those_faces_rows(tmp_path: Path) -> None:
    cache = write_cache(tmp_path / "cache")
    _append_swap_demo(cache)
    paths = ["v0.mp4", "orig.mp4", "orig.mp4", "swap.mp4", "swap.mp4", "talking.mp4"]
    labels = np.array([0, 0, 0, 1, 1, 1])
    fold = FoldScores(
        "swapper",
        ["swapper"],
        np.arange(6, dtype=np.float64),
        labels,
        ["", "", "", "swapper", "swapper", "talker"],
        paths,
        ["video"] * 6,
        ["id0", "demo", "demo", "demo", "demo", "talk"],
    )
    with pytest.raises(ValueError, match=r"talking\.mp4: the report has 1 rows but the cache 2"):
        without_left_out([fold], CropCache(cache))
    (kept,), dropped = without_left_out([fold.subset(range(5))], CropCache(cache))
    assert dropped == [("swap.mp4", 0, "unchanged")]
    assert kept.logits.tolist() == [0.0, 1.0, 2.0, 4.0]  # the swap's first row was face 0
    assert kept.paths == ["v0.mp4", "orig.mp4", "orig.mp4", "swap.mp4"]


def test_shift_onto_recovers_a_sub_pixel_shift_and_leaves_identical_images_alone() -> None:
    grey = cv2.cvtColor(_crop(astronaut(), ASTRONAUT_FACE, 0, 0, SIZE), cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32)
    assert np.array_equal(shift_onto(grey, grey.copy()), grey)
    moved = cv2.warpAffine(
        grey, np.float32([[1, 0, 1.6], [0, 1, -0.7]]), (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE
    )
    inner = slice(8, SIZE - 8)
    before = np.abs(moved - grey)[inner, inner].mean()
    after = np.abs(shift_onto(grey, moved) - grey)[inner, inner].mean()
    assert after < 0.3 * before
