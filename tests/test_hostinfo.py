"""The core share of one of several job processes (``worker --concurrency``): every thread pool
of the process takes it. In a fresh interpreter each, since the share is process-wide."""

from __future__ import annotations

import json
import subprocess
import sys

from deepfake_detector.hostinfo import affinity_cores

PROBE = """
import json, sys
import cv2, torch
from deepfake_detector import hostinfo
before = hostinfo.core_share()
share = hostinfo.share_cores(int(sys.argv[1]))
print(json.dumps({"before": before, "share": share, "usable": hostinfo.usable_cores(),
                  "cv2": cv2.getNumThreads(), "torch": torch.get_num_threads()}))
"""


def _share(cores: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(cores)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_share_sets_every_pool() -> None:
    got = _share(1)
    assert got == {"before": None, "share": 1, "usable": 1, "cv2": 1, "torch": 1}


def test_a_share_is_never_more_than_the_process_may_use() -> None:
    most = affinity_cores()
    got = _share(most + 5)
    assert got["share"] == got["usable"] == got["torch"] == most


def test_an_equal_share_is_at_least_one_core() -> None:
    from deepfake_detector.hostinfo import equal_share

    cores = affinity_cores()
    assert equal_share(1) == cores and equal_share(2) == max(1, cores // 2)
    assert equal_share(cores * 4) == 1 and equal_share(0) == cores
