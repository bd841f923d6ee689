"""Every corpus kind through ``deepfake-detector scan --format json``: exit status 0/1/2/3, one
JSON line with a verdict or a clear error, never a traceback or an "internal error"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpus import KINDS, Corpus, Kind, built

from deepfake_detector import cli

VERDICTS = {"REAL", "FAKE", "INCONCLUSIVE"}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_cli_answers_every_input(
    kind: Kind, corpus: Corpus, capsys: pytest.CaptureFixture[str]
) -> None:
    path = built(corpus, kind)
    arg = kind.cli_arg(path) if kind.cli_arg else str(path)
    code = cli.main(["scan", arg, "--format", "json", "--frames", "4", "--quiet"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "internal error" not in (out + err).lower()
    lines = out.splitlines()
    assert len(lines) == 1, out
    result = json.loads(lines[0])
    verdict = result["verdict"]
    expect = kind.expect

    if verdict == "ERROR":
        assert code == 2
        message = result["error"]
        assert message and message[0].isupper() and message.rstrip().endswith(".")
        assert str(Path(arg).parent) not in message, "no path in the message"
        assert "Errno" not in message
        assert expect.cli in ("error", "either"), f"{kind.name}: {message}"
        if expect.words:
            assert expect.words in message
    else:
        assert verdict in VERDICTS
        if result["band"] == "UNCERTAIN":
            assert code == cli.EXIT_UNCERTAIN
        else:
            assert code == (cli.EXIT_FAKE if verdict == "FAKE" else cli.EXIT_OK)
        assert expect.cli in ("verdict", "either"), f"{kind.name}: {verdict}"
        video = result["video"]
        if video["kind"] == "video":  # a photo is one frame at 0 s
            assert video["duration_s"] > 0 and video["fps"] > 0
        assert result["frames_analyzed"] >= 1
        if verdict == "INCONCLUSIVE":
            assert result["reason"]
        for field, value in expect.video:
            assert video[field] == (pytest.approx(value) if isinstance(value, float) else value)
        if expect.face:
            assert result["faces"], "the face is found in the upright frames"
        if expect.last_sample_after is not None:
            assert result["sampled_frames"][-1]["time_s"] > expect.last_sample_after
    assert result["path"] == arg
    assert "\x1b" not in out and "\r" not in out, "terminal control characters are escaped"
