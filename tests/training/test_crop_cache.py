"""The face-crop cache: exact on-disk format, all tracks, images, bad files, resume, parallelism."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detector.config import AnalysisSettings
from deepfake_detector.faces import CropSpec
from deepfake_detector.faces.guided import GuidedDetection
from deepfake_detector.training.crop_cache import (
    CacheError,
    CropCache,
    extract_to_cache,
    item_key,
)
from deepfake_detector.training.index import FAKE, REAL, IndexItem

import video_factory

SPEC = CropSpec(size=96, margin=0.25, align=True)
SETTINGS = AnalysisSettings(frames=4)
ENTRY_FIELDS = {
    "path",
    "label",
    "kind",
    "source",
    "method",
    "group",
    "split",
    "extra",
    "file",
    "crops",
    "tracks",
    "error",
}


@pytest.fixture(scope="module")
def dataset(
    tmp_path_factory: pytest.TempPathFactory,
    panning_video: Path,
    two_faces_video: Path,
    no_face_video: Path,
) -> tuple[Path, list[IndexItem]]:
    """Videos by absolute path; a tight face image and two broken files relative to the root."""
    root = tmp_path_factory.mktemp("data")
    x1, y1, x2, y2 = video_factory.ASTRONAUT_FACE
    mx, my = round(0.1 * (x2 - x1)), round(0.1 * (y2 - y1))
    tight = video_factory.astronaut()[y1 - my : y2 + my, x1 - mx : x2 + mx]
    (root / "faces").mkdir()
    cv2.imwrite(str(root / "faces" / "tight.png"), cv2.cvtColor(tight, cv2.COLOR_RGB2BGR))
    garbage = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (root / "broken.mp4").write_bytes(garbage)
    (root / "faces" / "broken.jpg").write_bytes(garbage)
    items = [
        IndexItem(str(panning_video), REAL, source="t", method="real", group="a", split="train"),
        IndexItem(str(two_faces_video), FAKE, source="t", method="X", group="b", extra={"q": 1}),
        IndexItem(str(no_face_video), REAL, group="c"),
        IndexItem("faces/tight.png", FAKE, kind="face", group="d"),
        IndexItem("broken.mp4", FAKE, group="e"),
        IndexItem("faces/broken.jpg", REAL, kind="face", group="f"),
    ]
    return root, items


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, dataset: tuple[Path, list[IndexItem]]) -> Path:
    root, items = dataset
    out = tmp_path_factory.mktemp("cache")
    summary = extract_to_cache(items, root, out, spec=SPEC, settings=SETTINGS, progress=False)
    assert (summary.total, summary.extracted, summary.skipped) == (6, 6, 0)
    assert (summary.errors, summary.no_face, summary.videos, summary.images) == (2, 1, 4, 2)
    return out


def _records(cache: Path) -> dict[str, dict]:
    lines = (cache / "entries.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return {r["path"]: r for r in records}


def test_cache_json_records_the_settings(cache: Path) -> None:
    meta = json.loads((cache / "cache.json").read_text())
    assert meta == {
        "format": 1,
        "spec": {"size": 96, "margin": 0.25, "align": True},
        "frames": 4,
        "detector": SETTINGS.detector,
        "detect_max_side": SETTINGS.detect_max_side,
    }


def test_npz_arrays_and_entries(cache: Path, dataset: tuple[Path, list[IndexItem]]) -> None:
    _, items = dataset
    records = _records(cache)
    assert len(records) == len(items) == len((cache / "entries.jsonl").read_text().splitlines())
    for item in items:
        r = records[item.path]
        assert set(r) == ENTRY_FIELDS
        assert {k: r[k] for k in asdict(item)} == asdict(item)
        assert r["file"] == f"crops/{item_key(item.path)}.npz"
        with np.load(cache / r["file"]) as z:
            assert set(z.files) == {"crops", "landmarks", "track", "time_s", "face_px"}
            k = r["crops"]
            assert z["crops"].dtype == np.uint8 and z["crops"].shape == (k, 96, 96, 3)
            assert z["landmarks"].dtype == np.float32 and z["landmarks"].shape == (k, 5, 2)
            assert z["track"].dtype == np.int16 and z["track"].shape == (k,)
            assert z["time_s"].dtype == np.float32 and z["time_s"].shape == (k,)
            assert z["face_px"].dtype == np.float32 and z["face_px"].shape == (k,)
            if item.kind == "video":
                assert (z["face_px"] > 0).all()
            else:
                assert np.isnan(z["face_px"]).all()
            assert r["tracks"] == len(np.unique(z["track"]))
    assert not list((cache / "crops").glob("*.tmp*"))


def test_what_each_item_yields(cache: Path, panning_video: Path, two_faces_video: Path) -> None:
    r = _records(cache)
    pan = r[str(panning_video)]
    assert (pan["tracks"], pan["crops"], pan["error"]) == (1, 4, None)
    two = r[str(two_faces_video)]
    assert two["tracks"] == 2 and two["crops"] >= 6 and two["error"] is None
    no_face = next(v for p, v in r.items() if p.endswith("no_face.mp4"))
    assert (no_face["crops"], no_face["tracks"], no_face["error"]) == (0, 0, None)
    tight = r["faces/tight.png"]
    assert (tight["crops"], tight["tracks"], tight["error"]) == (1, 1, None)
    for broken in ("broken.mp4", "faces/broken.jpg"):
        assert r[broken]["crops"] == 0 and r[broken]["error"]


def test_crop_content_and_landmarks(cache: Path) -> None:
    reader = CropCache(cache)
    tight = next(e for e in reader.entries() if e.path == "faces/tight.png")
    data = reader.load(tight)
    assert data.track.tolist() == [0] and data.time_s.tolist() == [0.0]
    lm = data.landmarks[0]
    assert np.isfinite(lm).all()
    # Aligned crop: eyes level, left of right, everything inside the crop.
    assert lm[0, 0] < lm[1, 0] and abs(lm[0, 1] - lm[1, 1]) < 2.0
    assert (lm > 0).all() and (lm < 96).all()
    assert data.crops[0].std() > 20  # a face, not a flat padding border


def test_training_crops_come_from_the_exact_frames_whatever_the_snap_setting(
    panning_video: Path, tmp_path: Path
) -> None:
    """Serving may snap samples to keyframes (DFD_SAMPLE_SNAP); a training set is always cut from
    the exact, evenly spaced frames, so rebuilding it gives the same crops."""
    from deepfake_detector.media import iter_sampled_frames, probe, sample_times

    info = probe(str(panning_video))
    times = sample_times(info, count=8)
    exact = [f.time_s for f in iter_sampled_frames(str(panning_video), info, times, 0.0)]
    snapped = [f.time_s for f in iter_sampled_frames(str(panning_video), info, times, 0.5)]
    assert snapped != exact  # snapping would move some of this video's samples

    item = IndexItem(str(panning_video), REAL, group="a")
    settings = AnalysisSettings(frames=8, sample_snap=0.5)
    extract_to_cache([item], tmp_path, tmp_path / "c", spec=SPEC, settings=settings, progress=False)
    (entry,) = CropCache(tmp_path / "c").entries()
    (track,) = CropCache(tmp_path / "c").tracks(entry)
    assert track.time_s.tolist() == pytest.approx(exact, abs=1e-3)


def test_training_crops_come_from_whole_frame_searches_whatever_the_setting(
    two_faces_video: Path, tmp_path: Path, guided_searches: list[GuidedDetection]
) -> None:
    """Serving may search most samples only near the faces already followed
    (DFD_FULL_DETECT_EVERY); a training set searches every frame whole."""
    item = IndexItem(str(two_faces_video), REAL, group="a")
    settings = AnalysisSettings(frames=8, full_detect_every=4)
    extract_to_cache([item], tmp_path, tmp_path / "c", spec=SPEC, settings=settings, progress=False)
    (guided,) = guided_searches
    assert guided.full_every == 1 and (guided.full_searches, guided.guided_searches) == (8, 0)


def test_reader_tracks_split_and_order(cache: Path, two_faces_video: Path) -> None:
    reader = CropCache(cache)
    assert reader.spec == SPEC
    entries = {e.path: e for e in reader.entries()}
    assert len(entries) == 6
    entry = entries[str(two_faces_video)]
    assert entry.tracks == 2 and entry.error is None and entry.label == FAKE
    assert entry.item.extra == {"q": 1}
    tracks = reader.tracks(entry)
    assert len(tracks) == 2
    assert sum(len(t) for t in tracks) == entry.crops
    for t in tracks:
        assert len(set(t.track.tolist())) == 1
        assert (np.diff(t.time_s) > 0).all()
    assert tracks[0].track[0] != tracks[1].track[0]
    # Each face's size in the frame: the box the scene placed it in, as the detector sees it.
    faces = (video_factory.ASTRONAUT_FACE, video_factory.GRACE_HOPPER_FACE)
    placed = sorted(
        max(x2 - x1, y2 - y1)
        for (x1, y1, x2, y2) in (
            video_factory.placed_box(box, where(0.0))
            for box, (_, where) in zip(faces, video_factory.two_faces_layers(), strict=True)
        )
    )
    found = sorted(float(np.median(t.face_px)) for t in tracks)
    assert found == pytest.approx(placed, rel=0.3)
    no_face = next(e for p, e in entries.items() if p.endswith("no_face.mp4"))
    assert reader.tracks(no_face) == []


def test_resume_skips_finished_items(
    cache: Path, dataset: tuple[Path, list[IndexItem]], tmp_path: Path
) -> None:
    root, items = dataset
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    mtimes = {p: p.stat().st_mtime_ns for p in (copy / "crops").glob("*.npz")}
    # A killed run leaves a duplicate record and a torn last line behind.
    lines = (copy / "entries.jsonl").read_text().splitlines()
    (copy / "entries.jsonl").write_text("\n".join([*lines, lines[0]]) + "\n" + lines[1][:20])
    extra = IndexItem("faces/tight.png", REAL)  # same path twice: one entry
    summary = extract_to_cache(
        [*items, extra], root, copy, spec=SPEC, settings=SETTINGS, progress=False
    )
    assert (summary.skipped, summary.extracted) == (6, 0)
    assert {p: p.stat().st_mtime_ns for p in (copy / "crops").glob("*.npz")} == mtimes
    assert len((copy / "entries.jsonl").read_text().splitlines()) == 6
    assert len(CropCache(copy).entries()) == 6


def test_resume_redoes_only_missing_items(
    cache: Path, dataset: tuple[Path, list[IndexItem]], tmp_path: Path
) -> None:
    root, items = dataset
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    (copy / "crops" / f"{item_key('faces/tight.png')}.npz").unlink()
    summary = extract_to_cache(items, root, copy, spec=SPEC, settings=SETTINGS, progress=False)
    assert (summary.skipped, summary.extracted, summary.images) == (5, 1, 1)
    assert _records(copy) == _records(cache)


@pytest.mark.parametrize(
    "spec, settings",
    [
        (replace(SPEC, size=112), SETTINGS),
        (replace(SPEC, align=False), SETTINGS),
        (SPEC, replace(SETTINGS, frames=8)),
        (SPEC, replace(SETTINGS, detect_max_side=320)),
    ],
)
def test_resume_refuses_other_settings(
    cache: Path,
    dataset: tuple[Path, list[IndexItem]],
    spec: CropSpec,
    settings: AnalysisSettings,
) -> None:
    root, items = dataset
    before = (cache / "entries.jsonl").read_text()
    with pytest.raises(CacheError, match="other settings"):
        extract_to_cache(items, root, cache, spec=spec, settings=settings, progress=False)
    assert (cache / "entries.jsonl").read_text() == before


def test_two_workers_match_one(
    cache: Path, dataset: tuple[Path, list[IndexItem]], tmp_path: Path
) -> None:
    root, items = dataset
    out = tmp_path / "parallel"
    summary = extract_to_cache(
        items, root, out, spec=SPEC, settings=SETTINGS, workers=2, progress=False
    )
    assert summary.extracted == 6
    assert _records(out) == _records(cache)
    a, b = CropCache(cache), CropCache(out)
    for entry in a.entries():
        x, y = a.load(entry), b.load(entry)
        np.testing.assert_array_equal(x.track, y.track)
        np.testing.assert_array_equal(x.time_s, y.time_s)
        np.testing.assert_allclose(x.landmarks, y.landmarks, atol=0.05)
        diff = np.abs(x.crops.astype(int) - y.crops.astype(int))
        assert diff.size == 0 or diff.max() <= 2


def test_cli_extracts_an_index(
    dataset: tuple[Path, list[IndexItem]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from deepfake_detector.training.extract_command import add_extract_parser
    from deepfake_detector.training.index import write_index

    root, items = dataset
    index = tmp_path / "index.jsonl"
    write_index([i for i in items if i.kind == "face"], index)
    parser = argparse.ArgumentParser()
    add_extract_parser(parser.add_subparsers())
    out = tmp_path / "c"
    argv = ["extract-crops", str(index), "--cache", str(out), "--root", str(root), "--size", "96"]
    args = parser.parse_args([*argv, "--frames", "4", "--workers", "1"])
    assert args.handler(args) == 0
    assert "2 extracted" in capsys.readouterr().err
    assert len(CropCache(out).entries()) == 2
    args = parser.parse_args([*argv, "--frames", "8"])
    assert args.handler(args) == 2
    assert "other settings" in capsys.readouterr().err
    args = parser.parse_args(["extract-crops", str(tmp_path / "nope"), "--cache", str(out)])
    assert args.handler(args) == 2
    assert os.path.exists(out / "cache.json")
