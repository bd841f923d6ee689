"""Every corpus kind uploaded to ``POST /api/v1/analyses`` (a real app, database, queue and
worker): a 202 and a job that ends ``done`` or ``failed`` with a reason, or a documented 4xx with
the error shape; never a 500, no traceback logged, no ``.part`` file left in the staging folder
and nothing kept for a refused upload."""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import pytest
from corpus import KINDS, Corpus, Kind, built
from service_support import OpenApiChecker, RunningApp, wait_for_job

ANALYSES = "/api/v1/analyses"
ANALYSIS = "/api/v1/analyses/{id}"
VERDICTS = {"REAL", "FAKE", "INCONCLUSIVE"}


def _kept(root: Path) -> set[Path]:
    return set(root.glob("*/video.*"))


def _tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if r.exc_info and r.name.startswith("deepfake_detector")
    ]


@pytest.mark.parametrize("kind", [pytest.param(k, id=k.name) for k in KINDS])
def test_upload_answers_every_input(
    kind: Kind,
    corpus: Corpus,
    robust_app: RunningApp,
    openapi_checker: OpenApiChecker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = built(corpus, kind)
    client = robust_app.client()
    root = Path(robust_app.ctx.settings.resolved_storage_dir())
    staging = root / "tmp"
    before = _kept(root)
    expect = kind.expect
    caplog.set_level(logging.INFO)

    with open(path, "rb") as f:
        response = client.post(
            ANALYSES,
            data={"file": (f, kind.upload_name or kind.file_name)},
            content_type="multipart/form-data",
        )
    openapi_checker.check("POST", ANALYSES, response)
    assert response.status_code < 500, response.data
    assert not list(staging.glob("*.part")), "the staged upload is gone"

    if response.status_code == 202:
        assert expect.api in ("accepted", "either"), (kind.name, response.get_json())
        created = response.get_json()
        final, _ = wait_for_job(client, created["id"], timeout=60)
        openapi_checker.check("GET", ANALYSIS, client.get(ANALYSIS.format(id=final["id"])))
        assert final["status"] in ("done", "failed")
        if final["status"] == "failed":
            assert final["error"] and "internal error" not in final["error"].lower()
            assert final["verdict"] == "ERROR"
        else:
            assert final["verdict"] in VERDICTS
            assert final["result"]["frames_analyzed"] >= 1
        name = final["file"]["name"]
        assert "/" not in name and "\\" not in name and len(name) <= 255
        assert all(unicodedata.category(ch)[0] != "C" for ch in name), repr(name)
        assert (root / final["file"]["sha256"]).is_dir()
    else:
        assert 400 <= response.status_code < 500
        error = response.get_json()["error"]
        assert set(error) == {"code", "message", "status"}
        assert error["status"] == response.status_code and error["message"]
        assert "Traceback" not in error["message"] and str(path.parent) not in error["message"]
        assert expect.api not in ("accepted",), (kind.name, error)
        if isinstance(expect.api, int):
            assert response.status_code == expect.api, (kind.name, error)
        if expect.code:
            assert error["code"] == expect.code, (kind.name, error)
        if expect.api_words:
            assert expect.api_words in error["message"], error["message"]
        assert _kept(root) == before, "nothing is kept for a refused upload"
    assert not list(staging.glob("*.part"))
    assert not _tracebacks(caplog.records), _tracebacks(caplog.records)
