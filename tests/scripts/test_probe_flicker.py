"""scripts/probe_flicker.py: what changes between adjacent frames inside a face and around it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detector.training.selfblend import default_landmarks

import video_factory

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import probe_flicker  # lives in scripts/, put on the path above

SIZE = 224


def _face_crop() -> tuple[np.ndarray, np.ndarray]:
    """An aligned-looking crop of the astronaut and its five points (from the default layout)."""
    x1, y1, x2, y2 = video_factory.ASTRONAUT_FACE
    side = round(max(x2 - x1, y2 - y1) * 1.5)
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    photo = video_factory.astronaut()
    crop = photo[cy - side // 2 : cy + side // 2, cx - side // 2 : cx + side // 2]
    return cv2.resize(np.ascontiguousarray(crop), (SIZE, SIZE)), default_landmarks(SIZE)


def test_pair_statistics_see_change_inside_the_face_only() -> None:
    crop, points = _face_crop()
    # Identical crops: nothing changes but the sub-pixel shift's interpolation.
    same = probe_flicker.pair_statistics(crop, crop.copy(), points)
    assert same["level_in_minus_out"] < 0.2 and same["ab_in_minus_out"] < 0.2

    inside, _ = probe_flicker._regions(points, SIZE)
    rng = np.random.default_rng(0)
    noisy = crop.astype(np.float32)
    noisy[inside] += rng.normal(0, 8, noisy[inside].shape)
    regenerated = np.clip(noisy, 0, 255).astype(np.uint8)
    stats = probe_flicker.pair_statistics(crop, regenerated, points)
    assert stats["fine_in_over_out"] > 5.0

    brighter = crop.astype(np.float32)
    brighter[inside] += 10.0
    stats = probe_flicker.pair_statistics(crop, np.clip(brighter, 0, 255).astype(np.uint8), points)
    assert stats["level_in_minus_out"] == pytest.approx(10.0, abs=1.5)


def test_the_probe_pairs_a_swap_with_its_original(
    tmp_path: Path,
    panning_video: Path,
    zooming_video: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entries = [
        {"path": panning_video.name, "label": 0, "method": "real", "group": "a", "kind": "video"},
        {
            "path": zooming_video.name,
            "label": 1,
            "method": probe_flicker.SWAP_FAMILY,
            "group": "a",
            "kind": "video",
            "extra": {"original": panning_video.name},
        },
        {"path": "face.jpg", "label": 0, "method": "real", "group": "b", "kind": "face"},
    ]
    index = tmp_path / "index.jsonl"
    index.write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / "probe.json"
    assert panning_video.parent == zooming_video.parent
    code = probe_flicker.main(
        [str(index), "--root", str(panning_video.parent), "--anchors", "3", "--json", str(out)]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert [c["path"] for c in report["clips"]] == [panning_video.name, zooming_video.name]
    assert all(c["anchors"] == 3 for c in report["clips"])
    for key in probe_flicker.STATISTICS:
        assert report["summary"][key]["pairs"] == 1
    assert "1 real videos, 1 swaps (1 paired)" in capsys.readouterr().out
