"""Score an index with the real analysis pipeline and summarise it: metrics per kind, breakdowns,
per-item rows, plots.

Videos go through ``Analyzer.analyze`` (exactly what users get); face images are already crops, so
they are resized to the model's input and scored directly, never run through face detection.
Videos and faces are always reported separately: pooling them would mix two different tasks.

**Unscored videos.** A video with verdict INCONCLUSIVE (no face found) or ERROR has no fake
probability. Dropping it would flatter the detector, so for the metrics it is scored 0.5 ("no
information") and flagged (``scored=False``); the counts of both are reported, and
``metrics_scored_only`` gives the figures without them.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from deepfake_detector.training.calibration import expected_calibration_error, reliability_bins
from deepfake_detector.training.index import IndexItem
from deepfake_detector.training.metrics import binary_metrics, breakdown

UNSCORED_PROBABILITY = 0.5
KINDS = ("video", "face")
ProgressCallback = Callable[[int, int, str], None]
"""``progress(done, total, path)`` after each item."""


@dataclass
class ItemResult:
    path: str
    kind: str
    label: int
    source: str
    method: str
    score: float
    """Fake probability used for the metrics (0.5 when unscored)."""
    verdict: str
    scored: bool
    """False when the model gave no probability (INCONCLUSIVE / ERROR) and 0.5 stands in."""
    raw_logit: float | None = None
    """Uncalibrated clip logit (for fitting a temperature); see ``raw_logit_of``."""
    error: str | None = None


@dataclass
class EvaluationReport:
    model: dict[str, Any]
    threshold: float
    items: list[ItemResult]
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics_scored_only: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_source: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    by_method: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ece: dict[str, float | None] = field(default_factory=dict)
    reliability: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pairs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per kind: each fake matched with the real item it was made from (``matched_pairs``)."""
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1.0 - 1e-6)
    return math.log(p / (1.0 - p))


def raw_logit_of(probability: float, temperature: float) -> float:
    """The uncalibrated logit behind a calibrated probability: ``T * logit(p)``. Exact for the
    ``head`` and ``mean_logit`` clip reductions; for ``mean_probability`` (the seed) it is the
    logit of the mean probability, an approximation."""
    return temperature * _logit(probability)


def load_face_crop(path: str | Path, size: int, extractor: Any = None) -> np.ndarray:
    """A face image file → RGB ``uint8`` ``(size, size, 3)``; ``ValueError`` if unreadable.

    With ``extractor`` (a ``FaceExtractor``) the face is found and cut exactly as training crops
    were (``FaceExtractor.face_image``); only when no face is found is the whole image resized."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if extractor is not None:
        face = extractor.face_image(rgb)
        if face is not None:
            return np.ascontiguousarray(face.crop)
    if rgb.shape[:2] != (size, size):
        shrink = rgb.shape[0] > size or rgb.shape[1] > size
        rgb = cv2.resize(
            rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
    return np.ascontiguousarray(rgb)


def _temperature(classifier: Any) -> float:
    config = getattr(classifier, "config", None)
    return float(getattr(config, "temperature", 1.0))


def _score_video(item: IndexItem, path: Path, analyzer: Any, threshold: float) -> ItemResult:
    result = analyzer.analyze(path)
    p = result.fake_probability
    verdict = str(getattr(result.verdict, "value", result.verdict))
    scored = p is not None and math.isfinite(p)
    return ItemResult(
        path=item.path,
        kind=item.kind,
        label=item.label,
        source=item.source,
        method=item.method,
        score=float(p) if scored else UNSCORED_PROBABILITY,
        verdict=verdict,
        scored=scored,
        raw_logit=raw_logit_of(float(p), _temperature(analyzer.classifier)) if scored else None,
        error=result.error or (result.reason if not scored else None),
    )


def _score_face(item: IndexItem, path: Path, analyzer: Any, threshold: float) -> ItemResult:
    classifier = analyzer.classifier
    row = ItemResult(
        path=item.path,
        kind=item.kind,
        label=item.label,
        source=item.source,
        method=item.method,
        score=UNSCORED_PROBABILITY,
        verdict="ERROR",
        scored=False,
    )
    try:
        crop = load_face_crop(path, classifier.info.crop.size, analyzer.extractor)
        p = float(classifier.score_clip([crop]).fake_probability)
        landmarks = getattr(analyzer, "landmarks", None)
        if landmarks is not None:  # one still: the landmark member abstains, as in serving
            p, _ = landmarks.combine(p, classifier.info.temperature, [None], [0.0])
    except Exception as exc:  # one bad file must not end a long evaluation
        row.error = f"{type(exc).__name__}: {exc}"
        return row
    row.score, row.scored = p, True
    row.verdict = "FAKE" if p >= threshold else "REAL"
    row.raw_logit = raw_logit_of(p, _temperature(classifier))
    return row


def evaluate(
    items: Sequence[IndexItem],
    root: str | os.PathLike[str],
    analyzer: Any,
    progress: ProgressCallback | None = None,
    threshold: float | None = None,
) -> EvaluationReport:
    """Score every item with ``analyzer`` (an ``analysis.pipeline.Analyzer``) and compute the
    report. ``threshold`` defaults to the model's own. Relative item paths are under ``root``."""
    info = analyzer.classifier.info
    thr = float(info.threshold if threshold is None else threshold)
    root = Path(root)
    rows: list[ItemResult] = []
    for i, item in enumerate(items):
        path = Path(item.path)
        path = path if path.is_absolute() else root / path
        if item.kind == "face":
            rows.append(_score_face(item, path, analyzer, thr))
        elif item.kind == "video":
            rows.append(_score_video(item, path, analyzer, thr))
        else:
            raise ValueError(f"unknown item kind {item.kind!r} for {item.path}")
        if progress is not None:
            progress(i + 1, len(items), item.path)
    model = info.to_dict() if hasattr(info, "to_dict") else {"name": info.name}
    report = EvaluationReport(model=model, threshold=thr, items=rows)
    summarise(report, list(items))
    return report


def summarise(report: EvaluationReport, items: list[IndexItem]) -> None:
    """Fill the report's metrics from its rows (per kind, never pooled)."""
    thr = report.threshold
    for kind in KINDS:
        idx = [i for i, r in enumerate(report.items) if r.kind == kind]
        if not idx:
            continue
        rows = [report.items[i] for i in idx]
        labels = [r.label for r in rows]
        scores = [r.score for r in rows]
        verdicts: dict[str, int] = {}
        for r in rows:
            verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
        report.counts[kind] = {
            "n": len(rows),
            "n_real": labels.count(0),
            "n_fake": labels.count(1),
            "unscored": sum(not r.scored for r in rows),
            **{f"verdict_{k.lower()}": v for k, v in sorted(verdicts.items())},
        }
        report.metrics[kind] = binary_metrics(labels, scores, thr)
        scored = [r for r in rows if r.scored]
        report.metrics_scored_only[kind] = binary_metrics(
            [r.label for r in scored], [r.score for r in scored], thr
        )
        kind_items = [items[i] for i in idx]
        report.by_source[kind] = breakdown(kind_items, scores, "source", thr)
        report.by_method[kind] = breakdown(kind_items, scores, "method", thr)
        report.ece[kind] = expected_calibration_error(labels, scores)
        report.reliability[kind] = reliability_bins(labels, scores)
        pairs = matched_pairs(kind_items, rows)
        if pairs:
            report.pairs[kind] = pairs


def matched_pairs(items: Sequence[IndexItem], rows: Sequence[ItemResult]) -> list[dict[str, Any]]:
    """Each fake beside the real item it was made from: the one named by ``extra["original"]``
    (DFDC, Celeb-DF), else the only real item of its group (FF++ targets). Matched pairs share
    the footage, so "is the fake scored above its own original?" isolates the manipulation from
    the scene; ``ranked_right`` is None for a tie."""
    reals_by_group: dict[str, list[int]] = {}
    real_by_stem: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.label == 0:
            reals_by_group.setdefault(item.group, []).append(i)
            real_by_stem[Path(item.path).stem] = i
    pairs = []
    for i, item in enumerate(items):
        if item.label != 1:
            continue
        original = item.extra.get("original") if isinstance(item.extra, dict) else None
        if original:
            j = real_by_stem.get(Path(str(original)).stem)
        else:
            group = reals_by_group.get(item.group, []) if item.group else []
            j = group[0] if len(group) == 1 else None
        if j is None:
            continue
        fake, real = rows[i], rows[j]
        pairs.append(
            {
                "fake": fake.path,
                "real": real.path,
                "fake_score": fake.score,
                "real_score": real.score,
                "ranked_right": None if fake.score == real.score else fake.score > real.score,
            }
        )
    return pairs


# --- report files ---------------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cell(value: Any) -> str:
    return "–" if value is None else f"{value:.3f}"


def report_markdown(report: EvaluationReport) -> str:
    """The report as Markdown tables (model cards quote it): per kind, the whole set, then each
    source and each method with its counts. AUC needs both classes; a group with one class
    shows its accuracy at the threshold only."""
    lines = [
        f"Model `{report.model.get('name')}` (sha256 {str(report.model.get('sha256'))[:12]}), "
        f"threshold {report.threshold:g}; data `{report.notes.get('data', '?')}`, split "
        f"`{report.notes.get('split', '?')}`.",
        "",
    ]
    for kind in _kinds(report):
        m = report.metrics.get(kind)
        if not m:
            continue
        counts = report.counts.get(kind, {})
        lines += [
            f"**{kind}s** ({m['n_real']} real, {m['n_fake']} fake, "
            f"{counts.get('unscored', 0)} unscored)",
            "",
            "| group | real | fake | AUC | accuracy | balanced acc. | EER | log loss |",
            "|---|---|---|---|---|---|---|---|",
        ]

        def row(name: str, g: dict[str, Any]) -> str:
            return (
                f"| {name} | {g['n_real']} | {g['n_fake']} | {_cell(g['auc'])} | "
                f"{_cell(g['accuracy'])} | {_cell(g['balanced_accuracy'])} | {_cell(g['eer'])} | "
                f"{_cell(g['log_loss'])} |"
            )

        lines.append(row("all", m))
        for source, g in report.by_source.get(kind, {}).items():
            lines.append(row(f"source: {source}", g))
        methods = report.by_method.get(kind, {})
        if len(methods) > 2 or any(k not in ("(none)", "real") for k in methods):
            for method, g in methods.items():
                lines.append(row(f"method: {method}", g))
        pairs = report.pairs.get(kind, [])
        if pairs:
            right = sum(p["ranked_right"] is True for p in pairs)
            lines += [
                "",
                f"Matched pairs (a fake and the real {kind} it was made from): the fake scored "
                f"higher in {right} of {len(pairs)}.",
                "",
                "| fake | its original | fake score | original score |",
                "|---|---|---|---|",
                *(
                    f"| {Path(p['fake']).name} | {Path(p['real']).name} | "
                    f"{p['fake_score']:.3f} | {p['real_score']:.3f} |"
                    for p in pairs
                ),
            ]
        lines.append("")
    return "\n".join(lines)


def write_report(report: EvaluationReport, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``roc.png`` and ``reliability.png`` into
    ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": out / "report.json",
        "markdown": out / "report.md",
        "roc": out / "roc.png",
        "reliability": out / "reliability.png",
    }
    _atomic_write_text(paths["report"], json.dumps(report.to_dict(), indent=2) + "\n")
    _atomic_write_text(paths["markdown"], report_markdown(report))
    _plot_roc(report, paths["roc"])
    _plot_reliability(report, paths["reliability"])
    return paths


def _kinds(report: EvaluationReport) -> list[str]:
    return [k for k in KINDS if k in report.metrics] or ["video"]


def _plot_roc(report: EvaluationReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
    for kind in _kinds(report):
        rows = [r for r in report.items if r.kind == kind]
        m = report.metrics.get(kind, {})
        counts = f"{m.get('n_real', 0)} real / {m.get('n_fake', 0)} fake"
        if m.get("auc") is None:
            ax.plot([], [], label=f"{kind}: AUC n/a ({counts})")
            continue
        fpr, tpr, _ = roc_curve([r.label for r in rows], [r.score for r in rows])
        ax.plot(fpr, tpr, linewidth=2, label=f"{kind}: AUC {m['auc']:.3f} ({counts})")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title(f"ROC — {report.model.get('name', 'model')}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_reliability(report: EvaluationReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = _kinds(report)
    fig, axes = plt.subplots(
        2,
        len(kinds),
        figsize=(5 * len(kinds), 6.5),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
    )
    for col, kind in enumerate(kinds):
        top, bottom = axes[0][col], axes[1][col]
        table = report.reliability.get(kind, [])
        filled = [b for b in table if b["count"]]
        top.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
        if filled:
            top.plot(
                [b["mean_probability"] for b in filled],
                [b["fraction_fake"] for b in filled],
                marker="o",
            )
        ece = report.ece.get(kind)
        ece_text = "n/a" if ece is None else f"{ece:.3f}"
        top.set(xlim=(0, 1), ylim=(0, 1), ylabel="fraction fake")
        top.set_title(f"{kind}: reliability (ECE {ece_text})")
        rows = [r for r in report.items if r.kind == kind]
        bins = np.linspace(0, 1, 11)
        for label, name in ((0, "real"), (1, "fake")):
            bottom.hist(
                [r.score for r in rows if r.label == label], bins=bins, alpha=0.6, label=name
            )
        bottom.set(xlim=(0, 1), xlabel="predicted fake probability", ylabel="count")
        bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
