"""One metrics function for every evaluation (DeepfakeBench's anchor), plus per-group breakdowns.

``binary_metrics`` never crashes on awkward inputs (empty, one class only): whatever is undefined
is ``None``, so a report can always be written and read. Labels: 0 real, 1 fake; scores are fake
probabilities. Ranking metrics (AUC, AP, ROC) come from scikit-learn, not our own code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score, roc_curve

from deepfake_detector.training.index import FAKE, REAL, IndexItem

PROB_EPS = 1e-6
"""Probabilities are clipped to ``[PROB_EPS, 1 - PROB_EPS]`` for the log loss, so a confident
mistake costs a large but finite amount."""
BREAKDOWN_KEYS = ("source", "method")


def _as_arrays(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    if not np.isin(y, (REAL, FAKE)).all():
        raise ValueError("labels must be 0 (real) or 1 (fake)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    return y, s


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def equal_error_rate(labels: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """``(EER, threshold)``: the ROC point where the miss rate equals the false-alarm rate (the
    mean of the two at the closest point, as DeepfakeBench reports it). Needs both classes."""
    fpr, tpr, thresholds = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    threshold = float(min(thresholds[i], 1.0))  # roc_curve's first threshold is +inf
    return float((fpr[i] + fnr[i]) / 2.0), threshold


def binary_metrics(
    labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5
) -> dict[str, Any]:
    """Everything we report about one set of scored items, in one place so that every report
    computes its figures the same way. Undefined figures are ``None``; a score ``>= threshold``
    is called fake."""
    y, s = _as_arrays(labels, scores)
    n_fake = int(y.sum())
    n_real = int(len(y) - n_fake)
    pred = s >= threshold
    tp = int((pred & (y == FAKE)).sum())
    fp = int((pred & (y == REAL)).sum())
    tn, fn = n_real - fp, n_fake - tp
    tpr, tnr = _rate(tp, n_fake), _rate(tn, n_real)
    present = [r for r in (tpr, tnr) if r is not None]
    out: dict[str, Any] = {
        "n": len(y),
        "n_real": n_real,
        "n_fake": n_fake,
        "threshold": float(threshold),
        "auc": None,
        "ap": None,
        "eer": None,
        "eer_threshold": None,
        "log_loss": None,
        "accuracy": _rate(tp + tn, len(y)),
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "tpr": tpr,
        "fpr": None if tnr is None else 1.0 - tnr,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }
    if len(y):
        clipped = np.clip(s, PROB_EPS, 1.0 - PROB_EPS)
        out["log_loss"] = float(log_loss(y, clipped, labels=[REAL, FAKE]))
    if n_real and n_fake:
        out["auc"] = float(roc_auc_score(y, s))
        out["ap"] = float(average_precision_score(y, s))
        out["eer"], out["eer_threshold"] = equal_error_rate(y, s)
    return out


def _group_key(item: IndexItem, by: str) -> str:
    return getattr(item, by) or "(none)"


def breakdown(
    items: Sequence[IndexItem], scores: Sequence[float], by: str = "source", threshold: float = 0.5
) -> dict[str, dict[str, Any]]:
    """Metrics per ``source`` or ``method``. Call it per kind (videos and faces are never pooled).

    Most groups hold one class only (a method's fakes; ``real``): their AUC is ``None``, so each
    fake-only group also gets ``detection_rate`` (its TPR at the threshold) and, when the items
    include reals of the same source(s), ``vs_source_reals``: the metrics of these fakes against
    all those reals (e.g. FF++ Face2Face vs FF++ originals)."""
    if by not in BREAKDOWN_KEYS:
        raise ValueError(f"by must be one of {BREAKDOWN_KEYS}, not {by!r}")
    if len(items) != len(scores):
        raise ValueError(f"{len(items)} items but {len(scores)} scores")
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(_group_key(item, by), []).append(i)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(groups):
        idx = groups[name]
        labels = [items[i].label for i in idx]
        group_scores = [scores[i] for i in idx]
        metrics = binary_metrics(labels, group_scores, threshold)
        if metrics["n_fake"] and not metrics["n_real"]:
            metrics["detection_rate"] = metrics["tpr"]
            sources = {items[i].source for i in idx}
            reals = [j for j, it in enumerate(items) if it.label == REAL and it.source in sources]
            if reals:
                ref = binary_metrics(
                    labels + [REAL] * len(reals),
                    group_scores + [scores[j] for j in reals],
                    threshold,
                )
                metrics["vs_source_reals"] = ref
        out[name] = metrics
    return out
