"""Records of the crop cache's ``entries.jsonl`` for tests that write a cache by hand."""

from __future__ import annotations


def video_entry(
    path: str, label: int, method: str, group: str, file: str, crops: int, tracks: int = 1
) -> dict:
    """One finished video item of the cache: ``crops`` crops in ``file`` over ``tracks``."""
    return {
        "path": path,
        "label": label,
        "kind": "video",
        "source": "test",
        "method": method,
        "group": group,
        "split": "",
        "extra": {},
        "file": file,
        "crops": crops,
        "tracks": tracks,
        "error": None,
    }
