"""End to end: a tiny index of face crops and videos through the real Analyzer, report files,
and the command's main path."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from deepfake_detector.analysis.pipeline import Analyzer
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.training.evaluate import evaluate, write_report
from deepfake_detector.training.evaluate_command import main
from deepfake_detector.training.index import IndexItem, write_index

import video_factory

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(AnalysisSettings(frames=4, device="cpu"))


@pytest.fixture()
def dataset(tmp_path: Path, panning_video: Path, no_face_video: Path) -> Path:
    """Index with 2 face crops (real + fake label) and 2 videos, in tmp_path/index.jsonl."""
    faces = tmp_path / "faces"
    faces.mkdir()
    for name, photo in (
        ("a.jpg", video_factory.astronaut()),
        ("g.jpg", video_factory.grace_hopper()),
    ):
        cv2.imwrite(str(faces / name), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    items = [
        IndexItem("faces/a.jpg", 0, kind="face", source="photos", method="real", split="test"),
        IndexItem("faces/g.jpg", 1, kind="face", source="photos", method="Fakeish", split="test"),
        IndexItem(
            str(panning_video), 0, kind="video", source="synthetic", method="real", split="test"
        ),
        IndexItem(
            str(no_face_video), 1, kind="video", source="synthetic", method="x", split="test"
        ),
        IndexItem("faces/missing.jpg", 1, kind="face", source="photos", method="x", split="val"),
    ]
    write_index(items, tmp_path / "index.jsonl")
    return tmp_path / "index.jsonl"


def test_evaluate_end_to_end(dataset: Path, analyzer: Analyzer, tmp_path: Path) -> None:
    from deepfake_detector.training.index import read_index

    items = [it for it in read_index(dataset) if it.split == "test"]
    seen: list[int] = []
    report = evaluate(items, dataset.parent, analyzer, progress=lambda d, t, p: seen.append(d))
    assert seen == [1, 2, 3, 4]
    assert set(report.metrics) == {"video", "face"}  # never pooled
    assert report.counts["face"] == {
        "n": 2,
        "n_real": 1,
        "n_fake": 1,
        "unscored": 0,
        **{k: v for k, v in report.counts["face"].items() if k.startswith("verdict_")},
    }
    assert report.metrics["face"]["auc"] in (0.0, 1.0, 0.5)
    rows = {Path(r.path).name: r for r in report.items}
    assert rows["a.jpg"].scored and 0.0 <= rows["a.jpg"].score <= 1.0
    assert rows["a.jpg"].raw_logit is not None
    no_face = rows[no_face_video_name(items)]
    assert not no_face.scored and no_face.score == 0.5 and no_face.verdict == "INCONCLUSIVE"
    assert report.counts["video"]["unscored"] == 1
    assert report.metrics_scored_only["video"]["n"] == 1
    assert "synthetic" in report.by_source["video"]
    assert report.by_method["face"]["Fakeish"]["vs_source_reals"]["n"] == 2
    assert report.model["name"] and report.model["sha256"]

    paths = write_report(report, tmp_path / "out")
    data = json.loads(paths["report"].read_text())
    assert data["metrics"]["face"]["n"] == 2 and len(data["items"]) == 4
    for key in ("roc", "reliability"):
        assert paths[key].read_bytes()[:8] == PNG_MAGIC
    markdown = paths["markdown"].read_text()
    assert "**faces** (1 real, 1 fake, 0 unscored)" in markdown
    assert "| source: synthetic |" in markdown and "| method: Fakeish |" in markdown


def no_face_video_name(items: list[IndexItem]) -> str:
    return next(Path(it.path).name for it in items if it.kind == "video" and it.label == 1)


def test_command_main_with_jsonl_index(dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    code = main(
        ["--data", str(dataset), "--frames", "4", "--device", "cpu", "--out", str(out), "-q"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "face (all)" in printed and "video (all)" in printed
    assert {p.name for p in out.iterdir()} >= {"report.json", "roc.png", "reliability.png"}


def test_command_bad_input_exits_2(tmp_path: Path, dataset: Path, capsys) -> None:
    assert main(["--data", str(tmp_path / "nope"), "-q"]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert main(["--data", str(bad), "-q"]) == 2
    assert main(["--data", str(dataset), "--split", "train", "-q"]) == 2
    assert "no items in split" in capsys.readouterr().err
    code = main(["--data", str(dataset), "--fit-temperature-on", "val", "--model", "default", "-q"])
    assert code == 2
    assert "model folder" in capsys.readouterr().err


def test_fit_temperature_on_a_split_stores_it_with_the_model(tmp_path: Path, capsys) -> None:
    """--fit-temperature-on end to end: fit on one split's raw logits, store in the model folder,
    then evaluate another split with the new temperature (a copy of the shipped default)."""
    import shutil

    from deepfake_detector.models.registry import WEIGHTS_DIR, default_model_name

    model = tmp_path / "model"
    shutil.copytree(WEIGHTS_DIR / default_model_name(), model)
    before = json.loads((model / "config.json").read_text())
    faces = tmp_path / "faces"
    faces.mkdir()
    items = []
    for i, photo in enumerate((video_factory.astronaut(), video_factory.grace_hopper())):
        for flip in (False, True):
            name = f"{i}{'f' if flip else ''}.jpg"
            image = photo[:, ::-1] if flip else photo
            cv2.imwrite(str(faces / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            label = int(flip)  # arbitrary labels: only the fit and its bookkeeping are checked
            items.append(IndexItem(f"faces/{name}", label, kind="face", split="val"))
    items.append(IndexItem("faces/0.jpg", 0, kind="face", split="test"))
    items.append(IndexItem("faces/1f.jpg", 1, kind="face", split="test"))
    write_index(items, tmp_path / "index.jsonl")

    out = tmp_path / "report"
    args = ["--data", str(tmp_path / "index.jsonl"), "--model", str(model), "--device", "cpu"]
    code = main([*args, "--fit-temperature-on", "val", "--out", str(out), "-q"])
    assert code == 0
    assert "stored temperature" in capsys.readouterr().out
    after = json.loads((model / "config.json").read_text())
    calibration = json.loads((out / "report.json").read_text())["notes"]["calibration"]
    assert calibration["fitted_on"] == "val" and calibration["n"] == 4
    assert after["temperature"] == pytest.approx(calibration["temperature"], rel=1e-6)
    assert after["temperature"] != before["temperature"] and after["temperature"] > 0
    assert after["calibrated"] is True
    assert before["temperature"] == pytest.approx(
        json.loads((WEIGHTS_DIR / default_model_name() / "config.json").read_text())["temperature"]
    )  # the shipped model itself is untouched


def test_matched_pairs_by_original_and_by_group() -> None:
    """A fake pairs with the real named by ``extra.original`` (DFDC, Celeb-DF), else with the
    only real of its group (FF++ targets); groups with several reals, or none, give no pair."""
    from deepfake_detector.training.evaluate import (
        EvaluationReport,
        ItemResult,
        report_markdown,
        summarise,
    )

    def row(item: IndexItem, score: float) -> ItemResult:
        return ItemResult(item.path, "video", item.label, item.source, item.method, score, "", True)

    items = [
        IndexItem("real/004.mp4", 0, group="004"),
        IndexItem("fake/004_982.mp4", 1, group="004"),
        IndexItem("real/519.mp4", 0, group="519"),
        IndexItem("fake/519_515.mp4", 1, group="519"),
        IndexItem("part0/aaa.mp4", 0, group="id0"),
        IndexItem("part0/bbb.mp4", 0, group="id0"),
        IndexItem("part0/ccc.mp4", 1, group="id0", extra={"original": "aaa.mp4"}),
        IndexItem("part0/ddd.mp4", 1, group="id0"),  # two reals in its group: no pair
        IndexItem("fake/750_743.mp4", 1, group="750"),  # its original is absent
    ]
    scores = [0.3, 0.9, 0.6, 0.2, 0.4, 0.1, 0.4, 0.8, 0.7]
    report = EvaluationReport(
        model={"name": "m", "sha256": "0" * 64},
        threshold=0.5,
        items=[row(it, s) for it, s in zip(items, scores, strict=True)],
    )
    summarise(report, items)
    pairs = {(p["fake"], p["real"]): p["ranked_right"] for p in report.pairs["video"]}
    assert pairs == {
        ("fake/004_982.mp4", "real/004.mp4"): True,
        ("fake/519_515.mp4", "real/519.mp4"): False,
        ("part0/ccc.mp4", "part0/aaa.mp4"): None,  # a tie
    }
    markdown = report_markdown(report)
    assert "the fake scored higher in 1 of 3." in markdown
    assert "| 004_982.mp4 | 004.mp4 | 0.900 | 0.300 |" in markdown
