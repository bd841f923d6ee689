"""Per-upload options of ``POST /api/v1/analyses`` (``frames``, ``model`` as multipart fields),
against a real app, a real SQLite database, a real huey consumer and the real analysis: the
worker analyses with what was asked, the result says so, the options are part of the
de-duplication key, and anything not allowed is a 400 naming what is. Then the worker's cache of
analyzers, one per distinct settings, bounded, on both of its paths (one job at a time, and job
threads sharing a ``BatchingClassifier`` per model)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from service_support import OpenApiChecker, RunningApp, running_app_of, wait_for_job

from deepfake_detector.config import AnalysisSettings, ServiceSettings, SettingsError
from deepfake_detector.service import runner as runner_module
from deepfake_detector.service.app import create_app
from deepfake_detector.service.context import EXTENSION_KEY
from deepfake_detector.service.runner import JobRunner

import video_factory

ANALYSES = "/api/v1/analyses"
ANALYSIS = "/api/v1/analyses/{id}"
SERVER_FRAMES = 12
OTHER_MODEL = "selfblend-efficientnet-lite0-cpu"


def server_settings(data_dir: Path, **changes: Any) -> tuple[ServiceSettings, AnalysisSettings]:
    changes = {"allowed_models": OTHER_MODEL, "heatmaps": False, **changes}
    service = ServiceSettings(data_dir=str(data_dir), **changes)
    # PyTorch: no backend timing per model on first use (that is tested elsewhere).
    return service, AnalysisSettings(frames=SERVER_FRAMES, backend="torch")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = create_app(*server_settings(tmp_path_factory.mktemp("options") / "data"))
    with running_app_of(app) as started:
        yield started


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return video_factory.panning_face(tmp_path_factory.mktemp("clip") / "clip.mp4", duration_s=2.0)


def post(
    client: FlaskClient,
    path: Path | None,
    fields: dict[str, Any] | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
) -> Any:
    data: dict[str, Any] = dict(fields or {})
    handle = open(path, "rb") if path is not None else None  # noqa: SIM115
    try:
        if handle is not None:
            data["file"] = (handle, path.name)  # type: ignore[union-attr]
        return client.post(
            ANALYSES + query, data=data, content_type="multipart/form-data", headers=headers
        )
    finally:
        if handle is not None:
            handle.close()


def total(client: FlaskClient) -> int:
    return int(client.get(ANALYSES).get_json()["total"])


def test_frames_and_model_are_analysed_with_and_keyed(
    running: RunningApp, clip: Path, openapi: OpenApiChecker
) -> None:
    client = running.client()
    eight = post(client, clip, {"frames": "8"})
    openapi.check("POST", ANALYSES, eight)
    assert eight.status_code == 202, eight.data
    body = eight.get_json()
    assert body["options"] == {"frames": 8} and body["deduplicated"] is False
    done, _ = wait_for_job(client, body["id"])
    assert done["status"] == "done", done
    result = done["result"]
    assert result["settings"]["frames"] == 8
    assert result["frames_analyzed"] == 8
    assert len(result["sampled_frames"]) == 8
    openapi.check("GET", ANALYSIS, client.get(ANALYSIS.format(id=body["id"])))

    # The same options: the same analysis. Other options: another one.
    again = post(client, clip, {"frames": "8"}).get_json()
    assert (again["id"], again["deduplicated"]) == (body["id"], True)
    plain = post(client, clip).get_json()
    assert plain["id"] != body["id"] and plain["options"] == {}
    # Asking for the server's own settings is asking for nothing.
    explicit = post(client, clip, {"frames": str(SERVER_FRAMES), "model": "default"}).get_json()
    assert (explicit["id"], explicit["options"]) == (plain["id"], {})
    plain_done, _ = wait_for_job(client, plain["id"])
    assert plain_done["result"]["frames_analyzed"] == SERVER_FRAMES

    other = post(client, clip, {"frames": "8", "model": OTHER_MODEL}).get_json()
    assert other["id"] not in (body["id"], plain["id"])
    assert other["options"] == {"frames": 8, "model": OTHER_MODEL}
    other_done, _ = wait_for_job(client, other["id"])
    assert other_done["status"] == "done", other_done
    assert other_done["result"]["settings"]["model"] == OTHER_MODEL
    assert other_done["result"]["model"]["name"] == OTHER_MODEL
    assert other_done["result"]["frames_analyzed"] == 8
    assert done["result"]["model"]["name"] != OTHER_MODEL

    # The worker kept one analyzer per settings; the default model's two share their network.
    kept = running.worker.runner._analyzers
    assert len(kept) == 3
    by_settings = {(s.frames, s.model): a for s, a in kept.items()}
    assert by_settings[(8, "default")].classifier is by_settings[(12, "default")].classifier
    assert by_settings[(8, OTHER_MODEL)].classifier is not by_settings[(8, "default")].classifier


@pytest.mark.parametrize(
    ("fields", "query", "says"),
    [
        ({"frames": "3"}, "", "frames must be a whole number from 8 to 256, not '3'"),
        ({"frames": "257"}, "", "from 8 to 256"),
        ({"frames": "eight"}, "", "not 'eight'"),
        ({"frames": "8.0"}, "", "not '8.0'"),
        ({"frames": "-8"}, "", "not '-8'"),
        ({"frames": "８"}, "", "from 8 to 256"),  # a full-width digit is not a number here
        ({"frames": ["8", "9"]}, "", "frames was sent 2 times"),
        ({"model": "nope"}, "", f"allowed: default, {OTHER_MODEL}; see DFD_ALLOWED_MODELS"),
        ({"model": "/etc/passwd"}, "", "not allowed on this server"),
        ({"model": "x" * 500}, "", "not allowed on this server"),
        ({"threshold": "0.1"}, "", "Unknown field 'threshold' (allowed: file, frames, model, "),
        ({}, "?frames=8", "Unknown query parameter 'frames': an upload's options are multipart"),
    ],
)
def test_options_not_allowed_are_refused_naming_what_is(
    running: RunningApp,
    clip: Path,
    openapi: OpenApiChecker,
    fields: dict[str, Any],
    query: str,
    says: str,
) -> None:
    client = running.client()
    before = total(client)
    response = post(client, clip, fields, query)
    openapi.check("POST", ANALYSES, response)
    assert response.status_code == 400, response.data
    error = response.get_json()["error"]
    assert error["code"] == "invalid_parameter"
    assert says in error["message"]
    assert total(client) == before


def test_two_files_in_one_upload_are_refused(running: RunningApp, clip: Path) -> None:
    with open(clip, "rb") as one, open(clip, "rb") as two:
        response = running.client().post(
            ANALYSES,
            data={"file": [(one, "a.mp4"), (two, "b.mp4")]},
            content_type="multipart/form-data",
        )
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "file was sent 2 times."


def test_options_are_checked_before_the_file(running: RunningApp) -> None:
    """A bad option is reported even without a file (nothing is read or stored)."""
    response = post(running.client(), None, {"frames": "1"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_settings_that_cannot_work_stop_the_server_starting(tmp_path: Path) -> None:
    service, analysis = server_settings(tmp_path / "a", allowed_models="no-such-model")
    with pytest.raises(SettingsError, match="DFD_ALLOWED_MODELS: unknown model 'no-such-model'"):
        create_app(service, analysis)
    service, analysis = server_settings(
        tmp_path / "b", allowed_frames_min=64, allowed_frames_max=32
    )
    with pytest.raises(SettingsError, match="DFD_ALLOWED_FRAMES_MIN=64 and DFD_ALLOWED_FRAMES_MAX"):
        create_app(service, analysis)


def test_the_allowed_frames_range_is_configurable(tmp_path: Path, clip: Path) -> None:
    service, analysis = server_settings(
        tmp_path / "data", allowed_frames_min=2, allowed_frames_max=4
    )
    app = create_app(service, analysis)
    try:
        client = app.test_client()
        refused = post(client, clip, {"frames": "8"})
        assert refused.status_code == 400
        assert "from 2 to 4" in refused.get_json()["error"]["message"]
        accepted = post(client, clip, {"frames": "2"})
        assert accepted.status_code == 202 and accepted.get_json()["options"] == {"frames": 2}
    finally:
        app.extensions[EXTENSION_KEY].backends.close()


# -- the worker's analyzers -----------------------------------------------------------------------


def test_one_job_at_a_time_keeps_the_last_analyzers(
    running: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = AnalysisSettings(frames=8, backend="torch")
    jobs, blobs = running.ctx.backends.jobs, running.ctx.backends.blobs
    runner = JobRunner(jobs, blobs, base, "cache-test")
    monkeypatch.setattr(runner_module, "ANALYZERS_KEPT", 2)
    first = runner.analyzer()
    assert runner.analyzer(base) is first
    nine = runner.analyzer(AnalysisSettings(frames=9, backend="torch"))
    assert nine is not first and nine.classifier is first.classifier  # one model in memory
    assert runner.analyzer() is first  # used last now
    ten = runner.analyzer(AnalysisSettings(frames=10, backend="torch"))
    assert list(runner._analyzers.values()) == [first, ten]  # 9 was the least recently used
    assert runner.analyzer(AnalysisSettings(frames=9, backend="torch")) is not nine


def test_the_worker_logs_where_each_stage_runs(
    running: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator reads from the log whether a GPU worker scores, finds faces and decodes
    where it was told to."""
    settings = AnalysisSettings(frames=8, backend="torch", decode_device="cuda:63")
    runner = JobRunner(running.ctx.backends.jobs, running.ctx.backends.blobs, settings, "log")
    with caplog.at_level(logging.INFO, logger=runner_module.__name__):
        runner.analyzer()
    (loaded,) = [r.getMessage() for r in caplog.records if "model loaded" in r.getMessage()]
    assert "scoring on cpu (torch), faces found on cpu, videos decoded on cuda:63 where" in loaded
    assert loaded.endswith("threads wait for the GPU as DFD_CUDA_WAIT=auto")


def test_job_threads_share_one_model_each_and_close_a_dropped_one_once_unused(
    running: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs, blobs = running.ctx.backends.jobs, running.ctx.backends.blobs
    default = AnalysisSettings(frames=8, backend="torch")
    other = AnalysisSettings(frames=8, backend="torch", model=OTHER_MODEL)
    runner = JobRunner(jobs, blobs, default, "threads-test", job_threads=2)
    monkeypatch.setattr(runner_module, "ANALYZERS_KEPT", 1)
    runner.preload()  # the worker's model, loaded before any job: not in use
    assert runner.shared_classifier is not None and runner._users == {}
    holding = threading.Event()
    done = threading.Event()
    seen: dict[str, Any] = {}

    def job_thread() -> None:  # a job on the default model, still running
        seen["analyzer"] = runner.analyzer(default)
        holding.set()
        done.wait(60)
        runner._release_model()

    thread = threading.Thread(target=job_thread)
    thread.start()
    assert holding.wait(60)
    shared = runner.shared_classifier
    assert shared is not None and seen["analyzer"].classifier is shared
    same = runner.analyzer(AnalysisSettings(frames=9, backend="torch"))
    assert same.classifier is shared  # another thread, other frames: the same model
    runner._release_model()
    # Another model: the default one is dropped, but not closed while its job runs.
    elsewhere = runner.analyzer(other)
    assert elsewhere.classifier is not shared and runner.shared_classifier is None
    assert not shared._closed
    runner._release_model()
    done.set()
    thread.join(60)
    assert shared._closed  # closed by the last job that used it
    assert not elsewhere.classifier._closed  # type: ignore[attr-defined]
    elsewhere.classifier.close()  # type: ignore[attr-defined]
