"""Dataset index readers: labels, official splits, identity groups and layout detection."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import dataset_fixtures as fx
import pytest

from deepfake_detector.errors import DetectorError
from deepfake_detector.training.datasets import (
    DatasetError,
    available_layouts,
    build_index,
    detect_layout,
    register_layout,
    split_by_group,
)
from deepfake_detector.training.index import FAKE, REAL, IndexItem, read_index
from deepfake_detector.training.index_command import add_index_parser

DEV_EVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dev_eval"


def by_path(items: list[IndexItem]) -> dict[str, IndexItem]:
    return {i.path: i for i in items}


@pytest.mark.parametrize(
    ("maker", "layout"),
    [
        (fx.make_ffpp, "ffpp"),
        (fx.make_celebdf, "celebdf"),
        (fx.make_dfdc, "dfdc"),
        (fx.make_dfdc_preview, "dfdc_preview"),
        (fx.make_folders, "folders"),
        (fx.make_csv, "csv"),
    ],
)
def test_auto_detects_each_layout(tmp_path: Path, maker, layout: str) -> None:
    root = maker(tmp_path / "ds")
    assert detect_layout(root) == layout
    assert build_index(root) == build_index(root, layout)


def test_ffpp_labels_groups_and_pair_splits(tmp_path: Path) -> None:
    items = by_path(build_index(fx.make_ffpp(tmp_path)))
    vids = "original_sequences/youtube/c23/videos"
    fakes = "manipulated_sequences/Deepfakes/c23/videos"
    assert items[f"{vids}/000.mp4"].label == REAL
    assert items[f"{vids}/000.mp4"].split == "train"
    assert items[f"{vids}/004.mp4"].split == "test"  # b of pair (005, 004)
    fake = items[f"{fakes}/005_004.mp4"]
    assert (fake.label, fake.method, fake.group, fake.split) == (FAKE, "Deepfakes", "005", "test")
    assert fake.extra["source_id"] == "004"
    assert items[f"{fakes}/001_000.mp4"].split == "train"  # pair listed as (000, 001)
    assert items[f"{fakes}/002_003.mp4"].split == "val"
    # Default compression only; masks are not videos of the dataset.
    assert not any("c40" in p or "masks" in p for p in items)
    dfd_fake = items[
        "manipulated_sequences/DeepFakeDetection/c23/videos/"
        "01_02__walking_down_indoor_hall_disgust__YVGY8LOK.mp4"
    ]
    assert (dfd_fake.label, dfd_fake.source, dfd_fake.group, dfd_fake.split) == (
        FAKE,
        "dfd",
        "01",
        "",
    )
    assert dfd_fake.extra["source_id"] == "02"
    dfd_real = items[
        "original_sequences/actors/c23/videos/01__walking_down_street_outside_angry.mp4"
    ]
    assert (dfd_real.label, dfd_real.group) == (REAL, "01")


def test_ffpp_splits_dir_and_compression_option(tmp_path: Path) -> None:
    root = fx.make_ffpp(tmp_path, splits_dir=True)
    items = build_index(root, compression="c40")
    assert [(i.path, i.split) for i in items] == [
        ("original_sequences/youtube/c40/videos/000.mp4", "train")
    ]
    with pytest.raises(DatasetError, match="c23, c40"):
        build_index(root, compression="raw")
    with pytest.raises(DatasetError, match="no option"):
        build_index(root, "ffpp", compresion="c23")


def test_celebdf_inverted_labels_and_test_list(tmp_path: Path) -> None:
    items = by_path(build_index(fx.make_celebdf(tmp_path)))
    assert items["Celeb-real/id1_0000.mp4"].label == REAL  # listed with "1"
    assert items["Celeb-real/id1_0000.mp4"].split == "test"
    assert items["Celeb-synthesis/id1_id0_0000.mp4"].label == FAKE  # listed with "0"
    assert items["Celeb-synthesis/id1_id0_0000.mp4"].split == "test"
    assert items["Celeb-real/id0_0000.mp4"].split == "train"
    fake = items["Celeb-synthesis/id0_id1_0000.mp4"]
    assert (fake.label, fake.group, fake.split) == (FAKE, "id0", "train")
    assert fake.extra["source_id"] == "id1"
    assert fake.group == items["Celeb-real/id0_0000.mp4"].group
    assert items["YouTube-real/00000.mp4"].label == REAL


def test_celebdf_rejects_a_list_read_with_our_convention(tmp_path: Path) -> None:
    root = fx.make_celebdf(tmp_path)
    (root / "List_of_testing_videos.txt").write_text("0 Celeb-real/id1_0000.mp4\n")
    with pytest.raises(DatasetError, match="1 = real"):
        build_index(root)


def test_dfdc_groups_and_test_labels(tmp_path: Path) -> None:
    items = by_path(build_index(fx.make_dfdc(tmp_path)))
    real, fake = items["dfdc_train_part_0/aaa.mp4"], items["dfdc_train_part_0/bbb.mp4"]
    assert (real.label, fake.label) == (REAL, FAKE)
    assert real.group == fake.group == "aaa"
    assert fake.split == real.split == "train"
    assert items["dfdc_train_part_0/ccc.mp4"].group == "ccc"
    assert (items["test/ttt.mp4"].label, items["test/ttt.mp4"].split) == (FAKE, "test")
    assert (items["test/uuu.mp4"].label, items["test/uuu.mp4"].split) == (REAL, "test")
    assert len(items) == 5  # zzz.mp4 is listed but not on disk


def test_dfdc_bad_label_is_a_clear_error(tmp_path: Path) -> None:
    root = fx.make_dfdc(tmp_path)
    (root / "dfdc_train_part_0" / "metadata.json").write_text('{"a.mp4": {"label": "maybe"}}')
    with pytest.raises(DatasetError, match=r"a\.mp4"):
        build_index(root)


def test_dfdc_preview(tmp_path: Path) -> None:
    items = by_path(build_index(fx.make_dfdc_preview(tmp_path)))
    real = items["original_videos/643049/643049_A/1.mp4"]
    fake = items["method_A/643049/1255229_A/2.mp4"]
    assert (real.label, real.split, fake.label, fake.method) == (REAL, "train", FAKE, "method_A")
    assert real.group == fake.group == "643049"
    assert items["method_B/777777/1255229_B/3.mp4"].split == "test"


def test_folders_nearest_real_fake_ancestor(tmp_path: Path) -> None:
    items = by_path(build_index(fx.make_folders(tmp_path)))
    assert set(items) == {
        "videos/real/ffpp_original__004.mp4",
        "videos/Fake/ffpp_Deepfakes__004_982.mp4",
        "videos/fake/sub/clip.mov",
        "images/real/a.jpg",
        "images/fake/b.PNG",
    }
    fake = items["videos/Fake/ffpp_Deepfakes__004_982.mp4"]
    assert (fake.label, fake.kind, fake.source, fake.group) == (
        FAKE,
        "video",
        "ffpp_Deepfakes",
        "004",
    )  # grouped with the original it was made from
    assert items["videos/real/ffpp_original__004.mp4"].group == "004"
    assert items["videos/fake/sub/clip.mov"].group == "clip"
    assert items["videos/fake/sub/clip.mov"].label == FAKE
    assert items["videos/fake/sub/clip.mov"].source == "sub"
    assert (items["images/real/a.jpg"].kind, items["images/real/a.jpg"].label) == ("face", REAL)
    assert items["images/fake/b.PNG"].source == "images"


def test_csv_aliases_labels_and_prefix(tmp_path: Path) -> None:
    root = fx.make_csv(tmp_path)
    items = by_path(build_index(root, path_prefix="dev_eval/"))
    assert len(items) == 3
    x, y = items["dev_eval/videos/real/x.mp4"], items["dev_eval/videos/fake/y.mp4"]
    assert (x.label, y.label) == (REAL, FAKE)
    assert x.source == y.source == "ffpp"
    assert x.group == y.group == "ffpp:004"
    z = items["dev_eval/images/fake/z.jpg"]
    assert (z.label, z.kind, z.group, z.source) == (FAKE, "face", "z", "dfdc_crops")
    # A CSV file can be given directly; all rows without a prefix.
    assert len(build_index(root / "MANIFEST.csv", "csv")) == 4


def test_csv_bad_label_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "i.csv").write_text("path,label\na.mp4,0\nb.mp4,maybe\n")
    with pytest.raises(DatasetError, match=r"i\.csv:3"):
        build_index(tmp_path / "i.csv")


def test_unknown_layout_and_undetectable_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"unknown dataset layout 'nope'.*ffpp"):
        build_index(tmp_path, "nope")
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError, match=r"could not recognise.*celebdf") as info:
        build_index(tmp_path)
    assert isinstance(info.value, DetectorError)
    with pytest.raises(DatasetError, match="not found"):
        build_index(tmp_path / "missing")


def test_register_layout_is_one_call(tmp_path: Path) -> None:
    def read(root: Path) -> list[IndexItem]:
        return [IndexItem(path="x.mp4", label=REAL, source="mine")]

    register_layout("mine_test", read, lambda root: (root / "MINE").exists())
    try:
        (tmp_path / "MINE").touch()
        assert "mine_test" in available_layouts()
        assert detect_layout(tmp_path) == "mine_test"
        assert build_index(tmp_path)[0].source == "mine"
    finally:
        from deepfake_detector.training import datasets

        datasets._LAYOUTS.pop("mine_test")


def _many(n: int) -> list[IndexItem]:
    return [
        IndexItem(path=f"{g}/{k}.mp4", label=k % 2, group=f"person{g}")
        for g in range(n)
        for k in range(3)
    ]


def test_split_by_group_is_deterministic_and_identity_disjoint() -> None:
    items = _many(300)
    first = split_by_group(items, seed=0)
    assert first == split_by_group(items, seed=0)
    assert first == split_by_group(list(reversed(items)), seed=0)[::-1]
    splits_of: dict[str, set[str]] = {}
    for item in first:
        splits_of.setdefault(item.group, set()).add(item.split)
    assert all(len(s) == 1 for s in splits_of.values())
    counts = Counter(next(iter(s)) for s in splits_of.values())
    assert 200 <= counts["train"] <= 280 and counts["val"] > 10 and counts["test"] > 10
    assert first != split_by_group(items, seed=1)
    only_two = split_by_group(items, fractions={"train": 1, "val": 1, "test": 0})
    assert {i.split for i in only_two} == {"train", "val"}


def test_split_by_group_keeps_official_splits() -> None:
    official = IndexItem(path="a.mp4", label=REAL, group="g", split="test")
    out = split_by_group([official, IndexItem(path="b.mp4", label=FAKE)], {"val": 1.0})
    assert out[0] is official
    assert out[1].split == "val"
    with pytest.raises(ValueError, match="fractions"):
        split_by_group([], {"train": -1.0})


def _index_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_index_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["index", *argv])
    return args.handler(args)


def test_index_command_writes_and_summarises(tmp_path: Path, capsys) -> None:
    root = fx.make_folders(tmp_path / "ds")
    out = tmp_path / "index.jsonl"
    assert _index_cli([str(root), "--out", str(out), "--split-unassigned"]) == 0
    items = list(read_index(out))
    assert len(items) == 5 and all(i.split for i in items)
    err = capsys.readouterr().err
    assert "real" in err and "source ffpp_Deepfakes" in err and "all" in err

    assert _index_cli([str(root), "--layout", "folders"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["path"]


def test_index_command_reports_dataset_errors(tmp_path: Path, capsys) -> None:
    assert _index_cli([str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    root = fx.make_ffpp(tmp_path / "ff")
    assert _index_cli([str(root), "--option", "compression=c40"]) == 0


@pytest.mark.skipif(not DEV_EVAL.exists(), reason="shared dev_eval data not present")
def test_folders_reader_on_shared_dev_eval() -> None:
    items = build_index(DEV_EVAL, "folders")
    counts = Counter((i.kind, i.label) for i in items)
    assert counts == {
        ("video", REAL): 4,
        ("video", FAKE): 9,
        ("face", REAL): 98,
        ("face", FAKE): 98,
    }
