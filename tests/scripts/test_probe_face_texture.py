"""scripts/probe_face_texture.py: inner-face statistics of swaps against their own originals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detector.training.smooth_face import smooth_face

import video_factory

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import probe_face_texture  # lives in scripts/, put on the path above

SIZE = 96


def _write_cache(folder: Path) -> None:
    """Four originals (the astronaut, shifted and noisy), each with a swap that is the same
    crops smoothed, and one talking head: the on-disk crop-cache format."""
    (folder / "crops").mkdir(parents=True)
    (folder / "cache.json").write_text(
        json.dumps({"format": 1, "spec": {"size": SIZE, "margin": 0.25, "align": True}})
    )
    x1, y1, x2, y2 = video_factory.ASTRONAUT_FACE
    photo, rng, lines = video_factory.astronaut(), np.random.default_rng(0), []
    for k in range(4):
        cx, cy, half = (x1 + x2) // 2 + 3 * k, (y1 + y2) // 2, round((x2 - x1) * 0.7)
        face = cv2.resize(photo[cy - half : cy + half, cx - half : cx + half], (SIZE, SIZE))
        real = [
            np.clip(face + rng.normal(0, 2, face.shape), 0, 255).astype(np.uint8) for _ in range(2)
        ]
        swap = [smooth_face(c, None, np.random.default_rng(k))[0] for c in real]
        for name, label, method, crops in (
            (f"orig{k}", 0, "real", real),
            (f"swap{k}", 1, "deepfacelive", swap),
            *([("head", 1, "edtalk", swap)] if k == 0 else []),
        ):
            np.savez_compressed(
                folder / "crops" / f"{name}.npz",
                crops=np.stack(crops),
                landmarks=np.full((2, 5, 2), np.nan, np.float32),
                track=np.zeros(2, np.int16),
                time_s=np.array([0.0, 0.5], np.float32),
            )
            item = {"path": f"{name}.mp4", "label": label, "kind": "video", "source": "t"}
            item |= {"method": method, "group": f"id{k}", "split": "", "extra": {}}
            record = item | {"file": f"crops/{name}.npz", "crops": 2, "tracks": 1, "error": None}
            lines.append(json.dumps(record))
    (folder / "entries.jsonl").write_text("\n".join(lines) + "\n")


def test_smoothed_swaps_are_found_lower_in_every_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _write_cache(tmp_path / "cache")
    assert probe_face_texture.main([str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert (
        "4 real videos; 4 swaps, 4 with their original (4 originals); talking heads: edtalk 1"
        in out
    )
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.splitlines()[3:]}
    for statistic in ("a_spread", "b_spread", "noise", "laplacian_var"):
        assert rows[statistic][1:4] == ["4 of 4", "lower", "1.000"]
    for statistic in ("fine_cheeks_over_forehead", "ab_gap_cheeks_forehead"):
        assert rows[statistic][1].endswith("of 4")


def test_skin_patches_sit_on_the_forehead_and_the_cheeks() -> None:
    """The patches are placed from the five landmarks: a patch's mean of a coordinate ramp
    tells where it lies."""
    size = 96
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    lab = np.dstack([np.zeros_like(xs), xs, ys])  # a: x, b: y
    points = np.array([[34, 40], [62, 40], [48, 54], [38, 66], [58, 66]], np.float32)
    patches = probe_face_texture.skin_patches(np.zeros_like(xs), lab, points)
    where = {k: c[..., 1:].reshape(-1, 2).mean(axis=0) for k, (_, c) in patches.items()}
    assert where["forehead"][1] < 40 - 10 and abs(where["forehead"][0] - 48) < 1
    assert 40 < where["cheek_left"][1] < 66 and where["cheek_left"][0] < 48
    assert 40 < where["cheek_right"][1] < 66 and where["cheek_right"][0] > 48
    # A face turned upside down (mouth above the eyes) puts the forehead below the eyes.
    flipped = points.copy()
    flipped[:, 1] = size - flipped[:, 1]
    upside_down = probe_face_texture.skin_patches(np.zeros_like(xs), lab, flipped)
    assert upside_down["forehead"][1][..., 2].mean() > size - 40 + 10
