"""Temperature scaling: fit one ``T`` on held-out raw logits, measure calibration, store ``T``.

The runtime turns a raw logit into ``p_fake = sigmoid(logit / T)`` (``models.runtime.calibrate``);
this module fits that same ``T`` and writes it into the model's ``config.json``, so training,
evaluation and serving all read one number.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import ModelConfig, checkpoint_paths, read_config

T_BOUNDS = (0.05, 20.0)
"""Search range for ``T``: wider than any sane network needs, narrow enough to stay finite."""


def temperature_nll(logits: Sequence[float], labels: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under ``sigmoid(logits / temperature)``."""
    z = np.asarray(logits, np.float64) / temperature
    y = np.asarray(labels, np.float64)
    # -[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z, computed without overflow
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(
    logits: Sequence[float],
    labels: Sequence[int],
    bounds: tuple[float, float] = T_BOUNDS,
    iterations: int = 100,
) -> float:
    """The ``T > 0`` minimising the NLL of ``sigmoid(logit / T)`` (golden-section search over
    ``log T``: deterministic, no optimiser state). The NLL is convex in ``1/T``, hence unimodal in
    ``log T``. Needs both classes; logits that rank the classes the wrong way give the upper
    bound (the flattest answer) rather than a negative temperature."""
    z = np.asarray(logits, np.float64).reshape(-1)
    y = np.asarray(labels, np.int64).reshape(-1)
    if len(z) != len(y) or len(z) == 0:
        raise ValueError(f"need as many labels as logits, at least one ({len(z)} vs {len(y)})")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    if not (np.any(y == 0) and np.any(y == 1)):
        raise ValueError("fitting a temperature needs both real (0) and fake (1) labels")
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c, d = b - golden * (b - a), a + golden * (b - a)
    fc, fd = temperature_nll(z, y, math.exp(c)), temperature_nll(z, y, math.exp(d))
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - golden * (b - a)
            fc = temperature_nll(z, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + golden * (b - a)
            fd = temperature_nll(z, y, math.exp(d))
    return float(math.exp((a + b) / 2.0))


def reliability_bins(
    labels: Sequence[int], probs: Sequence[float], bins: int = 10
) -> list[dict[str, float | int | None]]:
    """Equal-width probability bins: count, mean predicted probability and observed fraction of
    fakes per bin (the points of a reliability diagram)."""
    y = np.asarray(labels, np.float64).reshape(-1)
    p = np.clip(np.asarray(probs, np.float64).reshape(-1), 0.0, 1.0)
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    out: list[dict[str, float | int | None]] = []
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": n,
                "mean_probability": float(p[mask].mean()) if n else None,
                "fraction_fake": float(y[mask].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(
    labels: Sequence[int], probs: Sequence[float], bins: int = 10
) -> float | None:
    """ECE: the count-weighted mean gap between predicted probability and observed fake fraction
    over equal-width bins. ``None`` for no items."""
    table = reliability_bins(labels, probs, bins)
    total = sum(int(row["count"] or 0) for row in table)
    if not total:
        return None
    gap = 0.0
    for row in table:
        if row["count"]:
            gap += row["count"] * abs(row["fraction_fake"] - row["mean_probability"])  # type: ignore[operator]
    return gap / total


def store_calibration(
    model_folder: str | os.PathLike[str],
    temperature: float,
    threshold: float | None = None,
    provenance: Mapping[str, Any] | None = None,
    band: tuple[float, float] | None = None,
    ece: float | None = None,
) -> ModelConfig:
    """Rewrite a model folder's ``config.json`` with ``temperature``, ``calibrated=True`` (and
    ``threshold`` if given), atomically, so a crash never leaves a half-written config. The weights
    are untouched (their sha256 stays the model's identity). ``provenance`` (what it was fitted
    on) goes under ``training["calibration"]``; ``band`` (the borderline band) and ``ece`` (the
    calibration error on held-out real-world data) are stored when given."""
    folder = Path(model_folder)
    if not folder.is_dir():
        raise ModelError(f"calibration can only be stored in a model folder; {folder} is not one")
    _, config_path = checkpoint_paths(folder)
    config = read_config(config_path)
    changes: dict[str, Any] = {"temperature": float(temperature), "calibrated": True}
    if threshold is not None:
        changes["threshold"] = float(threshold)
    if band is not None:
        changes["band"] = (float(band[0]), float(band[1]))
    if ece is not None:
        changes["ece"] = float(ece)
    if provenance is not None:
        changes["training"] = {**config.training, "calibration": dict(provenance)}
    new = replace(config, **changes)  # validates T > 0 and threshold in [0, 1]
    text = json.dumps(new.to_dict(), indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{config_path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, config_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return new
