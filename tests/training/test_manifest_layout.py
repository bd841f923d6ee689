"""The MANIFEST.csv layout: generator families, identity groups that keep a swap with its own
original, matched pairs and the metadata the shortcut probe reads."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from deepfake_detector.training.datasets import DatasetError, build_index, detect_layout
from deepfake_detector.training.datasets.manifest import generator_family
from deepfake_detector.training.index import FAKE, REAL

HEADER = ["path", "label", "category", "identity", "width", "height", "fps", "duration_s", "bytes"]
ROWS = [
    [
        "train_fake/pairs/fake/dfl__celebs__Ann_0__RIGHT_swap.mp4",
        "FAKE",
        "faceswap_realtime_deepfacelive",
        "dfl_model:Ann|dfl_srcgrp:07",
        "400",
        "250",
        "30",
        "8.9",
        "100000",
    ],
    [
        "train_fake/pairs/real/dfl__celebs__Ann_0__LEFT_orig.mp4",
        "REAL",
        "faceswap_pair_original_half",
        "dfl_srcgrp:07",
        "400",
        "250",
        "30",
        "8.9",
        "90000",
    ],
    [
        "train_fake/heads/fake/anitalker__outputs__monalisa__x.mp4",
        "FAKE",
        "talking_head_audio_driven",
        "anitalker:monalisa",
        "256",
        "256",
        "25",
        "10.2",
        "50000",
    ],
    [
        "train_fake/heads/fake/linly__Musetalk__data__video__sun_musev__1.mp4",
        "FAKE",
        "fully_generated_video_musev",
        "musev:sun",
        "576",
        "768",
        "25",
        "10.1",
        "70000",
    ],
    [
        "train_fake/heads/fake/linly__results__answer__2.mp4",
        "FAKE",
        "talking_head_audio_driven",
        "linly:ai_girl",
        "256",
        "256",
        "20",
        "10.0",
        "40000",
    ],
    [
        "train_real/videos/mead__M003__clip.mp4",
        "REAL",
        "real_face_video",
        "mead:M003",
        "1920",
        "1080",
        "30",
        "4.0",
        "",
    ],
    ["train_real/images/face.jpg", "REAL", "real_face_image", "", "", "", "", "", ""],
    ["train_real/notes.txt", "REAL", "other", "", "", "", "", "", ""],
    ["dev_eval/videos/fake/ffpp_Deepfakes__519_515.mp4", "FAKE", "ffpp", "", "", "", "", "", ""],
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    with (tmp_path / "MANIFEST.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    return tmp_path


def test_families_groups_pairs_and_metadata(root: Path) -> None:
    assert detect_layout(root) == "csv"  # auto-detection reads it as a plain CSV
    items = {
        i.path.rsplit("/", 1)[-1]: i
        for i in build_index(root, layout="manifest", path_prefix="train_")
    }
    assert "notes.txt" not in items and not any(k.startswith("ffpp") for k in items)
    swap = items["dfl__celebs__Ann_0__RIGHT_swap.mp4"]
    orig = items["dfl__celebs__Ann_0__LEFT_orig.mp4"]
    assert (swap.label, swap.method, orig.label, orig.method) == (
        FAKE,
        "deepfacelive",
        REAL,
        "real",
    )
    assert swap.group == orig.group == "dfl_srcgrp:07"  # one identity: never split apart
    assert swap.extra["original"] == orig.path
    assert swap.extra["width"] == 400 and swap.extra["bytes"] == 100000
    assert items["anitalker__outputs__monalisa__x.mp4"].method == "anitalker"
    assert items["linly__Musetalk__data__video__sun_musev__1.mp4"].method == "musev"
    assert items["linly__results__answer__2.mp4"].method == "linly"
    assert items["face.jpg"].kind == "face" and items["face.jpg"].group == "face"
    assert items["mead__M003__clip.mp4"].group == "mead:M003"
    assert "bytes" not in items["mead__M003__clip.mp4"].extra  # empty cells are left out


def test_generator_family_of_other_names() -> None:
    assert generator_family("x/ffpp_Face2Face__1_2.mp4", FAKE, "ffpp") == "Face2Face"
    assert generator_family("x/plain.mp4", FAKE, "some_tool") == "some_tool"
    assert generator_family("x/anything__y.mp4", REAL, "") == "real"


def test_bad_manifest(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="MANIFEST"):
        build_index(tmp_path, layout="manifest")
    (tmp_path / "MANIFEST.csv").write_text("path,label,category,identity\nv.mp4,maybe,c,i\n")
    with pytest.raises(DatasetError, match="maybe"):
        build_index(tmp_path, layout="manifest")
