"""Heatmaps are shown only where they point at the face: the face region of a crop, the rule on
synthetic maps, and the rule on real Grad-CAM maps of the test videos' crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepfake_detector.analysis.pipeline import Analyzer
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.faces.crop import CropSpec
from deepfake_detector.service import heatmaps
from deepfake_detector.service.heatmaps import (
    FOREHEAD,
    MIN_FACE_FRACTION,
    RegionCheck,
    check_region,
    face_region,
)
from deepfake_detector.service.openapi import openapi_document

SPEC = CropSpec(size=160, margin=0.25)
BOX = (100.0, 50.0, 160.0, 130.0)
"""A detection box 60 px wide and 80 tall: in a 160 px crop with a margin of 0.25 it is
80 x 106.7 px, centred (x 40-120, y 26.7-133.3), and the forehead reaches 16 px higher."""


def blob(centre: tuple[float, float], sigma: float = 12.0, size: int = 160) -> np.ndarray:
    """A Gaussian blob of peak 1 at ``(x, y)`` on a zero background."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    return np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * sigma**2))


def test_the_face_region_is_the_detection_box_in_the_crop_plus_the_forehead() -> None:
    region = face_region((160, 160), BOX, SPEC)
    top = 80 - 106.667 / 2 - FOREHEAD * 106.667
    rows, cols = np.nonzero(region)
    assert (cols.min(), cols.max()) == (40, 119)
    assert rows.min() == round(top) and rows.max() == 132
    # Any resolution: the map's (5 x 5 cells here) as well as the crop's.
    coarse = face_region((5, 5), BOX, SPEC)
    assert coarse[2, 2] and coarse[1, 1] and not coarse[0, 0] and not coarse[2, 4]
    # Wider margins shrink the face in the crop; an unknown box is taken as square.
    assert face_region((160, 160), BOX, CropSpec(160, 0.5)).sum() < region.sum()
    square = face_region((160, 160), None, SPEC)
    assert square[80].sum() == square[:, 80].sum() - round(FOREHEAD * 106.667)


def test_a_blob_on_the_face_is_shown() -> None:
    check = check_region(blob((80, 80)), BOX, SPEC)
    assert check.face_fraction is not None and check.face_fraction > 0.99
    assert not check.flat and check.shown
    # The forehead above the box counts as face.
    assert check_region(blob((80, 22), sigma=6), BOX, SPEC).shown


def test_a_blob_off_the_face_is_no_clear_region() -> None:
    corner = check_region(blob((10, 10)), BOX, SPEC)
    assert not corner.flat and corner.face_fraction is not None
    assert corner.face_fraction < 0.05 and not corner.shown
    # A lamp beside the head, in the crop's margin.
    lamp = check_region(blob((145, 60), sigma=10), BOX, SPEC)
    assert lamp.face_fraction is not None and lamp.face_fraction < 0.1 and not lamp.shown
    # Half on the face, half on the lamp: below the required share.
    both = check_region(blob((80, 80), sigma=10) + blob((145, 60), sigma=10), BOX, SPEC)
    assert both.face_fraction is not None and both.face_fraction > 0.45
    assert both.face_fraction < MIN_FACE_FRACTION and not both.shown


def test_a_flat_or_empty_map_is_no_clear_region() -> None:
    empty = check_region(np.zeros((160, 160)), BOX, SPEC)
    assert empty == RegionCheck(None, True) and not empty.shown
    constant = check_region(np.full((160, 160), 0.7), BOX, SPEC)
    assert constant.flat and constant.face_fraction is None and not constant.shown
    # Nearly flat: everything within 20 % of the peak, even if most of it is on the face.
    noise = np.random.default_rng(0).uniform(0.8, 1.0, (160, 160))
    noise[face_region((160, 160), BOX, SPEC)] += 0.1
    nearly = check_region(noise, BOX, SPEC)
    assert nearly.flat and nearly.face_fraction is not None and nearly.face_fraction > 0.6
    assert not nearly.shown
    # Any scale: only the shape of the map matters.
    assert check_region(3.0 * blob((80, 80)), BOX, SPEC).shown


def test_the_check_is_stored_as_plain_json_values() -> None:
    stored = check_region(blob((80, 80)) + 0.3 * blob((10, 150)), BOX, SPEC).to_dict()
    assert set(stored) == {"face_fraction", "flat", "shown"}
    assert isinstance(stored["face_fraction"], float) and stored["shown"] is True
    assert stored["face_fraction"] == round(stored["face_fraction"], 3)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalysisSettings(frames=8, backend="torch"))  # Grad-CAM runs on torch anyway


def test_real_heatmaps_of_the_test_faces(
    analyzer: Analyzer, two_faces_video: Path, tmp_path: Path
) -> None:
    """The shipped model's Grad-CAM on the two-faces test video, through ``render`` as the
    worker calls it: Grace Hopper's maps sit on her brows and forehead and are shown (all but
    one crop when measured, median face fraction 0.72); the astronaut's are empty (nothing in
    her crops pushed the score towards FAKE: scores about 0.17) but for one speck in a corner
    (face fraction 0.01), so they are all "no clear region". Every crop has a check; only the
    shown ones have an overlay file."""
    result = analyzer.analyze(two_faces_video, evidence_dir=tmp_path).to_dict()
    drawn = heatmaps.render(analyzer, result, tmp_path)
    faces = sorted(result["faces"], key=lambda face: face["frames"][0]["box"][0])
    astronaut, hopper = ([f["crop"] for f in face["frames"]] for face in faces)
    assert len(astronaut) == len(hopper) == 8
    assert set(drawn.checks) == set(astronaut) | set(hopper)

    assert not any(drawn.checks[crop]["shown"] for crop in astronaut)
    empty = [c for c in astronaut if drawn.checks[c]["flat"]]
    assert all(drawn.checks[c]["face_fraction"] is None for c in empty)
    assert len(empty) >= 6
    for crop in set(astronaut) - set(empty):  # a speck in a corner of the crop
        assert drawn.checks[crop]["face_fraction"] < 0.1
    fractions = [drawn.checks[crop]["face_fraction"] for crop in hopper]
    assert not any(drawn.checks[crop]["flat"] for crop in hopper)
    assert float(np.median(fractions)) >= 0.65
    shown = [crop for crop in hopper if drawn.checks[crop]["shown"]]
    assert len(shown) >= 6, fractions

    assert set(drawn.overlays) == set(shown)
    for crop, check in drawn.checks.items():
        overlay = tmp_path / "heatmaps" / Path(crop).name
        assert overlay.is_file() == check["shown"]
        if check["shown"]:
            assert drawn.overlays[crop] == f"heatmaps/{Path(crop).name}"


def test_the_api_documents_the_threshold_applied() -> None:
    schema = openapi_document()["components"]["schemas"]["Analysis"]["properties"]
    assert f"{round(MIN_FACE_FRACTION * 100)} %" in schema["heatmap_checks"]["description"]


def test_a_chunk_starts_only_if_it_should_end_within_the_budget() -> None:
    """Chunks so far took 1 s each on average: with 3.5 s spent, a fourth would end at 4.67 s."""
    assert heatmaps.next_chunk_fits(0.0, 0, 1e-9)  # the first chunk always runs
    assert heatmaps.next_chunk_fits(3.5, 3, None)  # no budget
    assert heatmaps.next_chunk_fits(3.5, 3, 4.7)
    assert not heatmaps.next_chunk_fits(3.5, 3, 4.6)  # the old rule (3.5 < 4.6) started it
    assert not heatmaps.next_chunk_fits(1.2, 1, 2.0)
