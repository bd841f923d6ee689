"""Tiny synthetic dataset trees (few-byte placeholder files) for the index-reader tests."""

from __future__ import annotations

import json
from pathlib import Path


def touch(root: Path, *relative: str) -> None:
    for rel in relative:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0")


def make_ffpp(root: Path, *, splits_dir: bool = False) -> Path:
    """Ids 000..005: pairs (000,001) train, (002,003) val, (004,005) test; DFD actors 01 and 02."""
    for vid in ("000", "001", "002", "003", "004", "005"):
        touch(root, f"original_sequences/youtube/c23/videos/{vid}.mp4")
    touch(root, "original_sequences/youtube/c40/videos/000.mp4")
    for method in ("Deepfakes", "FaceSwap"):
        for t, s in (("000", "001"), ("001", "000"), ("002", "003"), ("005", "004")):
            touch(root, f"manipulated_sequences/{method}/c23/videos/{t}_{s}.mp4")
    touch(root, "manipulated_sequences/Deepfakes/masks/videos/000_001.mp4")
    touch(
        root,
        "original_sequences/actors/c23/videos/01__walking_down_street_outside_angry.mp4",
        "manipulated_sequences/DeepFakeDetection/c23/videos/"
        "01_02__walking_down_indoor_hall_disgust__YVGY8LOK.mp4",
    )
    split_root = root / "splits" if splits_dir else root
    split_root.mkdir(parents=True, exist_ok=True)
    for name, pairs in {
        "train": [["000", "001"]],
        "val": [["002", "003"]],
        "test": [["005", "004"]],
    }.items():
        (split_root / f"{name}.json").write_text(json.dumps(pairs))
    return root


def make_celebdf(root: Path) -> Path:
    touch(
        root,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id1_0000.mp4",
        "YouTube-real/00000.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id1_id0_0000.mp4",
    )
    # Celeb-DF's own convention: 1 = real, 0 = fake.
    (root / "List_of_testing_videos.txt").write_text(
        "1 Celeb-real/id1_0000.mp4\n0 Celeb-synthesis/id1_id0_0000.mp4\n1 YouTube-real/99999.mp4\n"
    )
    return root


def make_dfdc(root: Path) -> Path:
    meta = {
        "aaa.mp4": {"label": "REAL", "split": "train", "original": None},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
        "ccc.mp4": {"label": "REAL", "split": "train"},
    }
    for part, entries in (("dfdc_train_part_0", meta), ("dfdc_train_part_10", {})):
        (root / part).mkdir(parents=True)
        (root / part / "metadata.json").write_text(json.dumps(entries))
        touch(root, *(f"{part}/{name}" for name in entries))
    touch(root, "test/ttt.mp4", "test/uuu.mp4")
    (root / "test" / "labels.csv").write_text("filename,label\nttt.mp4,1\nuuu.mp4,0\nzzz.mp4,1\n")
    return root


def make_dfdc_preview(root: Path) -> Path:
    entries = {
        "original_videos/643049/643049_A/1.mp4": {"label": "real", "set": "train"},
        "method_A/643049/1255229_A/2.mp4": {"label": "fake", "set": "train"},
        "method_B/777777/1255229_B/3.mp4": {"label": "fake", "set": "test"},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(entries))
    touch(root, *entries)
    return root


def make_folders(root: Path) -> Path:
    touch(
        root,
        "videos/real/ffpp_original__004.mp4",
        "videos/Fake/ffpp_Deepfakes__004_982.mp4",
        "videos/fake/sub/clip.mov",
        "images/real/a.jpg",
        "images/fake/b.PNG",
        "images/fake/notes.txt",
        "unlabelled/c.mp4",
    )
    return root


def make_csv(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "MANIFEST.csv").write_text(
        "path,label,category,identity,notes\n"
        "dev_eval/videos/real/x.mp4,REAL,ffpp,ffpp:004,\n"
        "dev_eval/videos/fake/y.mp4,FAKE,ffpp,ffpp:004,matched\n"
        "dev_eval/images/fake/z.jpg,1,dfdc_crops,,\n"
        "train_real/videos/w.mp4,real,mead,mead:M01,\n"
    )
    return root
