"""Dataset layout readers: every layout becomes a list of ``IndexItem`` through one registry.

Adding a layout is one module with a ``read(root, **options)`` and a ``detect(root)`` function plus
one ``register_layout`` call below; nothing downstream of the index changes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfake_detector.training.datasets._common import DatasetError
from deepfake_detector.training.datasets.splits import split_by_group
from deepfake_detector.training.index import IndexItem

__all__ = [
    "DatasetError",
    "Layout",
    "available_layouts",
    "build_index",
    "detect_layout",
    "register_layout",
    "split_by_group",
]

Reader = Callable[..., list[IndexItem]]
Detector = Callable[[Path], bool]


@dataclass(frozen=True)
class Layout:
    name: str
    reader: Reader
    detect: Detector


_LAYOUTS: dict[str, Layout] = {}


def register_layout(name: str, reader: Reader, detect: Detector) -> None:
    """Make a layout available to ``build_index``; auto-detection tries layouts in this order."""
    if name == "auto":
        raise ValueError("'auto' is reserved for detection")
    _LAYOUTS[name] = Layout(name, reader, detect)


def available_layouts() -> list[str]:
    """Registered layout names, in detection order."""
    return list(_LAYOUTS)


def detect_layout(root: str | Path) -> str:
    """The first registered layout that recognises root (specific layouts are tried first)."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset root not found: {root}")
    for layout in _LAYOUTS.values():
        if layout.detect(root):
            return layout.name
    raise DatasetError(
        f"could not recognise the dataset layout of {root}; "
        f"pass one of: {', '.join(available_layouts())}"
    )


def build_index(root: str | Path, layout: str = "auto", **options: Any) -> list[IndexItem]:
    """Index a dataset root; options go to the layout's reader (e.g. ``compression="c40"``)."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset root not found: {root}")
    name = detect_layout(root) if layout == "auto" else layout
    if name not in _LAYOUTS:
        raise DatasetError(
            f"unknown dataset layout {name!r}; available: auto, {', '.join(available_layouts())}"
        )
    reader = _LAYOUTS[name].reader
    accepted = {
        p.name
        for p in inspect.signature(reader).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise DatasetError(
            f"layout {name!r} has no option {', '.join(unknown)}; "
            f"options: {', '.join(sorted(accepted)) or 'none'}"
        )
    return reader(root, **options)


def _register_builtins() -> None:
    from deepfake_detector.training.datasets import (
        celebdf,
        dfdc,
        dfdc_preview,
        ffpp,
        folders,
        manifest,
    )

    register_layout("ffpp", ffpp.read, ffpp.detect)
    register_layout("celebdf", celebdf.read, celebdf.detect)
    register_layout("dfdc_preview", dfdc_preview.read, dfdc_preview.detect)
    register_layout("dfdc", dfdc.read, dfdc.detect)
    register_layout("csv", folders.read_csv, folders.detect_csv)
    # After csv: a MANIFEST.csv is also a path,label CSV, and auto-detection keeps reading it
    # as one; ``--layout manifest`` adds generator families, identity groups and pairs.
    register_layout("manifest", manifest.read, manifest.detect)
    register_layout("folders", folders.read_folders, folders.detect_folders)


_register_builtins()
