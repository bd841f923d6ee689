"""``deepfake-detector submit`` against a real ``serve`` process: real uploads, real analyses,
results written as ``scan`` writes them, resumed from ``--output``, reused from the server."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from service_support import Server, free_port

from deepfake_detector import cli
from deepfake_detector.submit import finished_hashes

import video_factory

VERDICTS = {"REAL", "FAKE", "INCONCLUSIVE"}


def run_submit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["submit", *args, "--no-progress", "--poll-s", "0.2"])
    out, err = capsys.readouterr()
    return code, out, err


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def total(server: Server) -> int:
    return int(server.get_json("/api/v1/analyses")["total"])


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short clips with faces, each with its own content (so its own sha256)."""
    folder = tmp_path_factory.mktemp("submit-videos")
    video_factory.panning_face(folder / "panning.mp4", duration_s=2.0)
    video_factory.zooming_face(folder / "zooming.mp4", duration_s=2.0)
    video_factory.two_faces(folder / "two_faces.mp4", duration_s=2.0)
    return folder


@pytest.mark.slow
def test_results_are_written_resumed_and_reused_from_the_server(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    server_factory: Callable[..., Server],
    videos: Path,
) -> None:
    server = server_factory(tmp_path / "data")
    files = sorted(videos.glob("*.mp4"))
    out = tmp_path / "results.jsonl"

    code, stdout, err = run_submit(
        capsys, str(videos), "--server", server.url, "--output", str(out)
    )
    assert code == 0, err
    assert stdout == ""
    assert "3 uploaded" in err
    records = json_lines(out)
    assert sorted(r["path"] for r in records) == [str(f) for f in files]
    by_path = {r["path"]: r for r in records}
    for f in files:
        record = by_path[str(f)]
        assert record["sha256"] == sha256(f)
        assert record["verdict"] in VERDICTS
        assert record["schema_version"] and record["frames_analyzed"] > 0
        assert len(record["analysis_id"]) == 32
        assert record["links"]["self"] == f"{server.url}/api/v1/analyses/{record['analysis_id']}"
    assert total(server) == 3

    # The same output again: every file is finished there, so nothing is sent or written.
    before = out.read_bytes()
    code, _, err = run_submit(capsys, str(videos), "--server", server.url, "--output", str(out))
    assert code == 0, err
    assert "0 uploaded, 0 reused from the server, 3 already in results.jsonl" in err
    assert out.read_bytes() == before
    assert total(server) == 3

    # A fresh output, the same server: the server's analyses are followed, nothing uploaded.
    fresh = tmp_path / "again.jsonl"
    code, _, err = run_submit(
        capsys, *map(str, files), "--server", server.url, "--output", str(fresh)
    )
    assert code == 0, err
    assert "0 uploaded, 3 reused from the server" in err
    again = {r["path"]: r for r in json_lines(fresh)}
    assert {p: (r["sha256"], r["analysis_id"], r["verdict"]) for p, r in again.items()} == {
        p: (r["sha256"], r["analysis_id"], r["verdict"]) for p, r in by_path.items()
    }
    assert total(server) == 3


@pytest.mark.slow
def test_refused_files_are_reported_and_the_others_done(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(tmp_path / "data", env={"DFD_UPLOAD_MAX_MB": "0.5"})
    folder = tmp_path / "batch"
    folder.mkdir()
    good = video_factory.no_face(folder / "good.mp4", duration_s=2.0)
    assert good.stat().st_size < 500_000
    (folder / "notes.mp4").write_text("not a video, only a name that says so\n")
    (folder / "big.mp4").write_bytes(os.urandom(1_000_000))  # over the limit: 413
    out = tmp_path / "results.csv"

    code, _, err = run_submit(capsys, str(folder), "--server", server.url, "--output", str(out))
    assert code == 1, err
    assert f"{folder / 'notes.mp4'}: " in err
    assert f"{folder / 'big.mp4'}: The file is larger than" in err
    assert "Traceback" not in err
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open(newline=""))}
    assert rows["good.mp4"]["verdict"] == "INCONCLUSIVE"  # no face in it
    assert rows["good.mp4"]["sha256"] == sha256(good)
    assert rows["good.mp4"]["analysis_id"]
    for name in ("notes.mp4", "big.mp4"):
        assert rows[name]["verdict"] == "ERROR" and rows[name]["error"]
        assert rows[name]["sha256"] == sha256(folder / name)
    assert total(server) == 1

    # Again with the same output: the finished file is skipped, the refused ones tried again.
    code, _, err = run_submit(capsys, str(folder), "--server", server.url, "--output", str(out))
    assert code == 1, err
    assert "0 uploaded, 0 reused from the server, 1 already in results.csv, 2 failed" in err
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines.count(lines[0]) == 1  # one header


def test_options_are_sent_and_checked_by_the_server(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    server_factory: Callable[..., Server],
    videos: Path,
) -> None:
    """--frames goes to the server as the upload's option: allowed, the analysis uses it (and is
    a new analysis of content the server had with other settings); out of the server's range,
    the file is refused with the server's reason."""
    server = server_factory(tmp_path / "data")
    clip = videos / "panning.mp4"
    out = tmp_path / "results.jsonl"
    code, _, err = run_submit(
        capsys, str(clip), "--server", server.url, "--output", str(out), "--frames", "10"
    )
    assert code == 0, err
    (record,) = json_lines(out)
    assert record["settings"]["frames"] == 10 and record["frames_analyzed"] == 10

    refused = tmp_path / "refused.jsonl"
    code, _, err = run_submit(
        capsys, str(clip), "--server", server.url, "--output", str(refused), "--frames", "3"
    )
    assert code == 1
    assert "frames must be a whole number from 8 to" in err
    assert total(server) == 1


def test_an_unreachable_server_is_one_clear_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, videos: Path
) -> None:
    out = tmp_path / "results.jsonl"
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code, _, err = run_submit(capsys, str(videos), "--server", url, "--output", str(out))
    assert code == 2
    assert err.strip() == f"deepfake-detector: cannot reach {url}: Connection refused"
    assert not out.exists()


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_submit(capsys, str(tmp_path), "--server", "http://127.0.0.1:1")
    assert code == 2 and "no video or photo files found" in err
    (tmp_path / "a.mp4").write_bytes(b"x")
    code, _, err = run_submit(capsys, str(tmp_path), "--server", "127.0.0.1:8000")
    assert code == 2 and "must be an http:// or https:// URL" in err
    out = tmp_path / "scan.csv"
    out.write_text("path,verdict\nx.mp4,REAL\n")  # scan's CSV has no sha256 column to resume by
    code, _, err = run_submit(
        capsys, str(tmp_path), "--server", "http://127.0.0.1:1", "--output", str(out)
    )
    assert code == 2 and "other columns than submit writes" in err


def test_resume_survives_a_run_killed_mid_line(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    done = {"path": "a.mp4", "verdict": "REAL", "sha256": "a" * 64}
    failed = {"path": "b.mp4", "verdict": "ERROR", "sha256": "b" * 64}
    out.write_text(json.dumps(done) + "\n" + json.dumps(failed) + "\n" + '{"path": "c.mp4", "ver')
    assert finished_hashes(out, "json") == {"a" * 64}  # ERROR is retried, the torn line ignored
