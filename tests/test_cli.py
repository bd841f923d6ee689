"""The CLI as a user runs it: real files, real model, output parsed back."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import photo_factory
from deepfake_detector import cli
from model_factory import default_model_copy


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def expected_status(result: dict) -> int:
    """scan's exit status for one analysed input, from its JSON result."""
    if result["band"] == "UNCERTAIN":
        return cli.EXIT_UNCERTAIN
    return cli.EXIT_FAKE if result["verdict"] == "FAKE" else cli.EXIT_OK


def test_json_lines_one_per_input(
    capsys: pytest.CaptureFixture[str], panning_video: Path, no_face_video: Path
) -> None:
    code, out, _ = run_cli(
        capsys, "scan", str(panning_video), str(no_face_video), "--format", "json", "--frames", "4"
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [str(panning_video), str(no_face_video)]
    assert lines[1]["verdict"] == "INCONCLUSIVE"
    assert lines[0]["frames_analyzed"] == 4
    assert code == expected_status(lines[0])


def test_one_bad_file_does_not_stop_the_batch(
    capsys: pytest.CaptureFixture[str], panning_video: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    code, out, _ = run_cli(
        capsys, "scan", str(bad), str(panning_video), "--format", "csv", "--frames", "4"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["verdict"] == "ERROR"
    assert rows[0]["error"]
    assert rows[1]["verdict"] in {"REAL", "FAKE"}
    assert rows[0]["band"] == "" and rows[1]["band"] in {"REAL", "UNCERTAIN", "FAKE"}
    assert code == 2


def test_photos_and_videos_in_one_folder(
    capsys: pytest.CaptureFixture[str], panning_video: Path, tmp_path: Path
) -> None:
    """A folder of both kinds: each analysed by its content, photos as one frame."""
    (tmp_path / "clip.mp4").write_bytes(panning_video.read_bytes())
    photo_factory.write_photo(tmp_path / "portrait.webp", quality=95)
    (tmp_path / "sub").mkdir()
    photo_factory.write_photo(tmp_path / "sub" / "avatar.png", photo_factory.tight_face())
    code, out, _ = run_cli(capsys, "scan", str(tmp_path), "--format", "csv", "--frames", "4")
    rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == {"clip.mp4", "portrait.webp", "avatar.png"}
    assert all(r["verdict"] in {"REAL", "FAKE"} for r in rows.values()), rows
    assert rows["clip.mp4"]["frames_analyzed"] == "4" and rows["clip.mp4"]["duration_s"]
    assert rows["portrait.webp"]["frames_analyzed"] == "1"
    assert rows["portrait.webp"]["duration_s"] == ""  # a photo has no duration
    assert code in (cli.EXIT_OK, cli.EXIT_FAKE, cli.EXIT_UNCERTAIN)
    # A model whose video calibration is good enough calls its score a chance (the default's,
    # ECE 0.139, is not: a copy of it with a good ECE is); a photo's calibration was never
    # measured, so a table with a photo in it titles the column otherwise.
    _, default_only, _ = run_cli(capsys, "scan", str(tmp_path / "clip.mp4"), "--frames", "4")
    assert "FAKE SCORE" in default_only.splitlines()[0]
    good = ["--model", str(default_model_copy(tmp_path / "model", ece=0.05))]
    _, video_only, _ = run_cli(capsys, "scan", str(tmp_path / "clip.mp4"), "--frames", "4", *good)
    _, with_photo, _ = run_cli(
        capsys, "scan", str(tmp_path / "sub"), str(tmp_path / "clip.mp4"), *good
    )
    assert "P(FAKE)" in video_only.splitlines()[0]
    assert "FAKE SCORE" in with_photo.splitlines()[0] and "P(FAKE)" not in with_photo


def test_table_shows_the_uncertain_band_and_what_the_score_is() -> None:
    rows = [
        {k: "" for k in cli.CSV_FIELDS} | {"verdict": "FAKE", "band": "UNCERTAIN", "path": "a"},
        {k: "" for k in cli.CSV_FIELDS} | {"verdict": "REAL", "band": "REAL", "path": "b"},
    ]
    table = cli._table(rows, "FAKE SCORE")
    assert "UNCERTAIN (leans FAKE)" in table and "FAKE SCORE" in table
    assert table.splitlines()[2].startswith("REAL ")


def test_folders_are_searched_recursively_and_globs_expanded(
    capsys: pytest.CaptureFixture[str], panning_video: Path, tmp_path: Path
) -> None:
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (nested / "clip.mp4").write_bytes(panning_video.read_bytes())
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    found = list(cli.expand_inputs([str(tmp_path)]))
    assert found == [nested / "clip.mp4"]
    assert list(cli.expand_inputs([str(tmp_path / "a" / "**" / "*.mp4")])) == found
    code, out, _ = run_cli(capsys, "scan", str(tmp_path), "--format", "table", "--frames", "2")
    assert "clip.mp4" in out and "VERDICT" in out
    assert code in (cli.EXIT_OK, cli.EXIT_FAKE, cli.EXIT_UNCERTAIN)


def test_missing_path_is_reported_not_fatal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(capsys, "scan", str(tmp_path / "missing.mp4"), "--format", "json")
    assert json.loads(out)["verdict"] == "ERROR"
    assert code == 2


def test_save_crops_writes_evidence(
    capsys: pytest.CaptureFixture[str], panning_video: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "evidence"
    code, out, _ = run_cli(
        capsys,
        "scan",
        str(panning_video),
        "--frames",
        "3",
        "--save-crops",
        str(out_dir),
        "--format",
        "json",
    )
    result = json.loads(out)
    (folder,) = out_dir.iterdir()
    for face in result["faces"]:
        for obs in face["frames"]:
            assert (folder / obs["crop"]).is_file()
    assert code in (cli.EXIT_OK, cli.EXIT_FAKE, cli.EXIT_UNCERTAIN)


def test_quiet_when_piped(panning_video: Path) -> None:
    """Run as a real process with stdout/stderr piped: no progress bar noise, clean JSON."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deepfake_detector.cli",
            "scan",
            str(panning_video),
            "--format",
            "json",
            "--frames",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    result = json.loads(proc.stdout)
    assert proc.returncode == expected_status(result), proc.stderr
    assert result["frames_analyzed"] == 2
    assert proc.stderr == ""


def seed_checkpoint(path: Path, fake_bias: float) -> Path:
    """A checkpoint in the original project's format whose final layer is pushed to one class:
    index 0 (FAKE) when ``fake_bias`` > 0, index 1 (REAL) when < 0."""
    import torch

    from deepfake_detector.models.seed import SeedResNeXtLSTM

    state = SeedResNeXtLSTM().state_dict()
    state["linear1.weight"].zero_()
    state["linear1.bias"].copy_(torch.tensor([fake_bias, -fake_bias]))
    torch.save(state, path)
    return path


@pytest.mark.parametrize(("fake_bias", "verdict", "status"), [(8.0, "FAKE", 1), (-8.0, "REAL", 0)])
def test_seed_checkpoint_by_path_and_exit_status(
    capsys: pytest.CaptureFixture[str],
    panning_video: Path,
    tmp_path: Path,
    fake_bias: float,
    verdict: str,
    status: int,
) -> None:
    model = seed_checkpoint(tmp_path / "model_87_acc_20_frames_final_data.pt", fake_bias)
    code, out, _ = run_cli(
        capsys,
        "scan",
        str(panning_video),
        "--model",
        str(model),
        "--frames",
        "3",
        "--format",
        "json",
    )
    result = json.loads(out)
    assert result["verdict"] == verdict
    assert result["model"]["architecture"] == "seed-resnext50-lstm"
    assert result["model"]["input_size"] == 112
    assert code == status


def test_unknown_model_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], panning_video: Path
) -> None:
    code, out, err = run_cli(capsys, "scan", str(panning_video), "--model", "no-such-model")
    assert code == 2
    assert "no-such-model" in err and "Traceback" not in err
    assert out == ""


def test_models_lists_each_name_with_what_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    from deepfake_detector.models.registry import available_models, default_model_name

    code, out, _ = run_cli(capsys, "models")
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert code == 0 and list(rows) == available_models()
    assert rows["default"] == f"is {default_model_name()}"
    assert rows[default_model_name()].startswith("trained, ")
    assert rows["resnext50-lstm-untrained"].startswith("untrained (random weights), resnext50")


@pytest.mark.parametrize(
    ("command", "variable", "value", "says"),
    [
        (["scan", "x.mp4"], "DFD_FRAMES", "abc", "DFD_FRAMES='abc' is not a whole number"),
        (["scan", "x.mp4"], "DFD_SAMPLE_SNAP", "0.9", "DFD_SAMPLE_SNAP must be between 0 and 0.5"),
        (["scan", "x.mp4"], "DFD_FULL_DETECT_EVERY", "0", "DFD_FULL_DETECT_EVERY must be a whole"),
        (["worker"], "DFD_DECODE_DEVICE", "gpu", "DFD_DECODE_DEVICE must be cpu, cuda or cuda:N"),
        (["scan", "x.mp4"], "DFD_CUDA_WAIT", "sleep", "DFD_CUDA_WAIT must be one of auto, spin"),
        (["worker"], "DFD_CUDA_WAIT", "nap", "DFD_CUDA_WAIT must be one of auto, spin"),
        (["serve"], "DFD_MAX_CONNECTIONS", "many", "DFD_MAX_CONNECTIONS='many' is not a whole"),
        (["worker"], "DFD_DETECT_MIN_SCORE", "high", "DFD_DETECT_MIN_SCORE='high' is not a number"),
    ],
)
def test_a_setting_that_cannot_be_used_is_said_in_one_line(
    tmp_path: Path, command: list[str], variable: str, value: str, says: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DFD_")},
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
        "DFD_DATA_DIR": str(tmp_path / "data"),
        variable: value,
    }
    done = subprocess.run(
        [sys.executable, "-m", "deepfake_detector.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"deepfake-detector: {says}")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_each_result_is_printed_before_the_next_input_is_analysed(
    monkeypatch: pytest.MonkeyPatch, panning_video: Path, no_face_video: Path
) -> None:
    """The table streams: a row (after the header) reaches stdout as soon as its input is done."""
    events: list[str] = []

    class Recording(cli.Analyzer):
        def analyze(self, path, **kwargs):  # type: ignore[no-untyped-def]
            events.append(f"analyse {Path(path).name}")
            return super().analyze(path, **kwargs)

    class Stdout(io.StringIO):
        def write(self, text: str) -> int:
            events.append(f"print {text.split()[0] if text.strip() else ''}")
            return super().write(text)

    out = Stdout()
    monkeypatch.setattr(cli, "Analyzer", Recording)
    monkeypatch.setattr(sys, "stdout", out)
    code = cli.main(["scan", str(no_face_video), str(panning_video), "--frames", "3"])
    assert events[:4] == [
        f"analyse {no_face_video.name}",
        "print VERDICT",
        "print INCONCLUSIVE",
        f"analyse {panning_video.name}",
    ]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    # Fixed widths: the PATH column starts at the same place on every line.
    inputs = [no_face_video, panning_video]
    starts = {line.index(str(p)) for line, p in zip(lines[1:], inputs, strict=True)}
    assert len(starts) == 1 and lines[0].index("PATH") == starts.pop()
    assert code in (cli.EXIT_OK, cli.EXIT_FAKE, cli.EXIT_UNCERTAIN)


@pytest.mark.parametrize(
    ("verdict", "band", "status"),
    [
        ("REAL", "REAL", 0),
        ("INCONCLUSIVE", None, 0),
        ("FAKE", "FAKE", 1),
        ("FAKE", "UNCERTAIN", 3),
        ("REAL", "UNCERTAIN", 3),
        ("ERROR", None, 2),
    ],
)
def test_exit_status_of_one_input(verdict: str, band: str | None, status: int) -> None:
    from deepfake_detector.analysis import AnalysisResult, Verdict

    result = AnalysisResult(path="x.mp4", verdict=Verdict(verdict))
    result.band = band
    assert cli.exit_status(result) == status


def test_the_most_severe_input_sets_the_exit_status() -> None:
    order = cli._SEVERITY
    assert order == (cli.EXIT_OK, cli.EXIT_UNCERTAIN, cli.EXIT_FAKE, cli.EXIT_UNANALYSED)
    assert max([0, 3, 1], key=order.index) == 1 and max([3, 2, 1], key=order.index) == 2
