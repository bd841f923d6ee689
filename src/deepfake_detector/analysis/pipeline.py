"""analyze(): video or photo → sampled frames → faces → tracks → crops → classifier → verdict.

The one function the CLI, the web worker and evaluation all call, so they cannot preprocess
differently. The face half lives in :mod:`deepfake_detector.analysis.extraction` (shared with the
training crop cache); this module scores each person and builds the result.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from deepfake_detector.analysis.evidence import write_jpeg
from deepfake_detector.analysis.extraction import FaceExtractor, Person, StageClock
from deepfake_detector.analysis.schema import (
    AnalysisResult,
    FaceObservation,
    FaceResult,
    SampledFrameInfo,
    Verdict,
)
from deepfake_detector.config import AnalysisSettings, settings_from_env
from deepfake_detector.errors import DetectorError
from deepfake_detector.faces import FaceDetector
from deepfake_detector.models import Classifier, load_classifier
from deepfake_detector.models.ensemble import LANDMARKS, TEXTURE, load_member

log = logging.getLogger(__name__)
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
"""OSErrors that mean the evidence could not be written, whatever the video."""

ProgressCallback = Callable[[str, float], None]
"""Called with (stage name, overall fraction done 0..1)."""

# Share of the progress bar each stage occupies (decoding and detection advance together).
_PROGRESS_FRAMES = (0.05, 0.80)
_PROGRESS_CLASSIFY = (0.80, 0.98)


class Analyzer:
    """Holds the loaded model and detector, so many videos reuse them (loaded once per process)."""

    def __init__(
        self,
        settings: AnalysisSettings | None = None,
        *,
        classifier: Classifier | None = None,
        detector: FaceDetector | None = None,
        members: bool | None = None,
    ) -> None:
        """``classifier``: one to use instead of loading ``settings.model`` (e.g. a
        ``BatchingClassifier`` shared by job threads). ``members``: whether to load the model's
        second scorer (landmark dynamics) from ``settings.model``; by default only when the
        classifier is loaded here, since one passed in may be another model."""
        self.settings = settings or settings_from_env()
        s = self.settings
        self.classifier = classifier or load_classifier(s.model, device=s.device, backend=s.backend)
        # A second scorer of the same model (landmark dynamics), combined with the texture model.
        load = classifier is None if members is None else members
        self.landmarks = load_member(s.model) if load else None
        # Faces are cut exactly as the model was trained to see them.
        self.extractor = FaceExtractor(s, self.classifier.info.crop, detector)

    @property
    def detector(self) -> FaceDetector:
        return self.extractor.detector

    def analyze(
        self,
        path: str | Path,
        *,
        evidence_dir: str | Path | None = None,
        progress: ProgressCallback | None = None,
    ) -> AnalysisResult:
        """Analyse one video or photo (a one-frame clip). Never raises for bad input: the
        result's verdict is ERROR with a message. With ``evidence_dir``, sampled frames and face
        crops are written there as JPEG and referenced (relative paths) from the result."""
        started = time.perf_counter()
        result = AnalysisResult(path=str(path), verdict=Verdict.ERROR)
        result.settings = dataclasses.asdict(self.settings)
        result.model = self.classifier.info.to_dict()
        result.model["backend"] = self.classifier.backend
        result.model["device"] = self.classifier.device
        result.model["members"] = [TEXTURE] + ([LANDMARKS] if self.landmarks else [])
        clock = StageClock()
        report = progress or (lambda stage, fraction: None)
        evidence = Path(evidence_dir) if evidence_dir is not None else None
        try:
            self._run(Path(path), result, clock, report, evidence)
        except DetectorError as exc:
            result.verdict, result.error = Verdict.ERROR, str(exc)
            result.fake_probability = None
        except Exception as exc:  # a bug, not bad input: keep the batch going, say what broke
            log.debug("analysis of %s failed", path, exc_info=True)
            result.verdict = Verdict.ERROR
            result.fake_probability = None
            if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
                # Writing the evidence failed (a full or read-only disk): the machine's fault,
                # not the file's, and worth saying plainly.
                result.error = (
                    f"could not write the analysis's files ({exc.strerror or exc}); free some "
                    "disk space or check the storage folder's permissions, then try again"
                )
            else:
                name = type(exc).__name__
                result.error = f"internal error while analysing this file ({name}: {exc})"
        clock.seconds["total"] = time.perf_counter() - started
        result.timings = {k: round(v, 4) for k, v in clock.seconds.items()}
        report("done", 1.0)
        return result

    def _run(
        self,
        path: Path,
        result: AnalysisResult,
        clock: StageClock,
        report: ProgressCallback,
        evidence: Path | None,
    ) -> None:
        report("probe", 0.0)
        t = time.perf_counter()
        source = self.extractor.open(path)
        info = source.info
        clock.add("probe", time.perf_counter() - t)
        result.media = info.to_dict()
        result.video = info.to_dict()  # schema 1.x readers
        if info.kind == "image":
            # The calibration (and its ECE) was measured on held-out videos only, and a photo is
            # scored without the landmark member: its score is never worded as a chance.
            result.model["score_is_probability"] = False

        lo, hi = _PROGRESS_FRAMES
        report("frames", lo)
        extracted = self.extractor.extract(
            source,
            clock=clock,
            progress=lambda stage, fraction: report(stage, lo + (hi - lo) * fraction),
            evidence_dir=evidence,
        )
        frames = extracted.frames
        result.frames_analyzed = len(frames)
        result.sampled_frames = [
            SampledFrameInfo(f.sample_index, round(f.time_s, 4), len(f.detections), f.image_path)
            for f in frames
        ]
        if not extracted.people:
            result.verdict = Verdict.INCONCLUSIVE
            result.reason = (
                "No face was found in the photo."
                if info.kind == "image"
                else f"No face was found in any of the {len(frames)} sampled frames."
            )
            return

        if evidence is not None:
            (evidence / "crops").mkdir(parents=True, exist_ok=True)
        report("classify", _PROGRESS_CLASSIFY[0])
        threshold = self.classifier.info.threshold
        faces: list[FaceResult] = []
        for n, person in enumerate(extracted.people):
            faces.append(
                self._score_person(
                    person, threshold, clock, evidence, len(frames), photo=info.kind == "image"
                )
            )
            span = _PROGRESS_CLASSIFY[1] - _PROGRESS_CLASSIFY[0]
            report("classify", _PROGRESS_CLASSIFY[0] + span * (n + 1) / len(extracted.people))
        result.faces = faces
        most_suspicious = max(faces, key=lambda face: face.fake_probability)
        result.fake_probability = most_suspicious.fake_probability
        result.threshold = threshold
        result.verdict = most_suspicious.verdict
        result.band = most_suspicious.band

    def _score_person(
        self,
        person: Person,
        threshold: float,
        clock: StageClock,
        evidence: Path | None,
        samples: int,
        *,
        photo: bool = False,
    ) -> FaceResult:
        """``samples``: how many frames were sampled from the video (the landmark member scores
        the person on the grid it was trained on). ``photo``: the landmark-dynamics member is
        not consulted (a photo has no motion; its combination with the texture score, and its
        bias when it abstains, were fitted on videos), so a photo's score is the texture
        model's alone."""
        t = time.perf_counter()
        scores = self.classifier.score_clip(person.crops)
        clock.add("classify", time.perf_counter() - t)
        observations = []
        for k, (frame, detection, crop) in enumerate(
            zip(person.frames, person.detections, person.crops, strict=True)
        ):
            crop_path = None
            if evidence is not None:
                t = time.perf_counter()
                crop_path = f"crops/face{person.track_id}_{frame.sample_index:04d}.jpg"
                write_jpeg(evidence / crop_path, crop)
                clock.add("evidence", time.perf_counter() - t)
            observations.append(
                FaceObservation(
                    sample_index=frame.sample_index,
                    time_s=round(frame.time_s, 4),
                    box=tuple(round(float(v), 1) for v in detection.box),  # type: ignore[arg-type]
                    detection_score=round(float(detection.score), 4),
                    score=float(scores.frame_probabilities[k]),
                    crop=crop_path,
                )
            )
        p = float(scores.fake_probability)
        members: dict[str, float | None] = {TEXTURE: p}
        if self.landmarks is not None and photo:
            members[LANDMARKS] = None
        elif self.landmarks is not None:
            t = time.perf_counter()
            p, members = self.landmarks.combine(
                p,
                self.classifier.info.temperature,
                person.crop_landmarks(self.classifier.info.crop),
                [frame.time_s for frame in person.frames],
                [frame.sample_index for frame in person.frames],
                samples,
            )
            clock.add("classify", time.perf_counter() - t)
        return FaceResult(
            track_id=person.track_id,
            verdict=Verdict.FAKE if p >= threshold else Verdict.REAL,
            fake_probability=p,
            frames=observations,
            band=self.classifier.info.band_of(p),
            members=members,
        )


_ANALYZERS: dict[AnalysisSettings, Analyzer] = {}
_ANALYZERS_LOCK = threading.Lock()


def analyze(
    path: str | Path,
    settings: AnalysisSettings | None = None,
    *,
    evidence_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Convenience wrapper: one video or photo with a process-wide cached ``Analyzer`` for
    ``settings``."""
    settings = settings or settings_from_env()
    with _ANALYZERS_LOCK:
        analyzer = _ANALYZERS.get(settings)
        if analyzer is None:
            analyzer = _ANALYZERS[settings] = Analyzer(settings)
    return analyzer.analyze(path, evidence_dir=evidence_dir, progress=progress)
