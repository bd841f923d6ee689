"""analyze(): video file → sampled frames → faces → tracks → crops → classifier → verdict.

The one function the CLI, the web worker and evaluation all call, so they cannot preprocess
differently. Decoding runs in a producer thread feeding a small bounded queue, so decoding the
next frame overlaps face detection on this one while at most a few frames are ever in memory;
each frame is cropped as soon as its faces are found and then dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deepfake_detector.analysis.evidence import write_jpeg
from deepfake_detector.analysis.schema import (
    AnalysisResult,
    FaceObservation,
    FaceResult,
    SampledFrameInfo,
    Verdict,
)
from deepfake_detector.config import AnalysisSettings, settings_from_env
from deepfake_detector.errors import DetectorError, MediaError
from deepfake_detector.faces import (
    FaceDetection,
    FaceDetector,
    FaceTrack,
    build_tracks,
    create_detector,
    crop_face,
)
from deepfake_detector.media import (
    SampledFrame,
    VideoInfo,
    iter_sampled_frames,
    probe,
    sample_times,
)
from deepfake_detector.models import Classifier, load_classifier

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]
"""Called with (stage name, overall fraction done 0..1)."""

# Share of the progress bar each stage occupies (decoding and detection advance together).
_PROGRESS_FRAMES = (0.05, 0.80)
_PROGRESS_CLASSIFY = (0.80, 0.98)
_FRAME_QUEUE_DEPTH = 3
_EVIDENCE_MAX_SIDE = 1280


@dataclass
class _FrameFaces:
    """What is kept of one sampled frame once it has been looked at: never the frame itself."""

    sample_index: int
    time_s: float
    detections: list[FaceDetection]
    crops: list[np.ndarray]
    image_path: str | None = None


@dataclass
class _StageClock:
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


class Analyzer:
    """Holds the loaded model and detector, so many videos reuse them (loaded once per process)."""

    def __init__(
        self,
        settings: AnalysisSettings | None = None,
        *,
        classifier: Classifier | None = None,
        detector: FaceDetector | None = None,
    ) -> None:
        self.settings = settings or settings_from_env()
        s = self.settings
        self.classifier = classifier or load_classifier(s.model, device=s.device, backend=s.backend)
        self.detector = detector or create_detector(
            s.detector,
            max_side=s.detect_max_side,
            min_score=s.detect_min_score,
            min_face_px=s.min_face_px,
        )

    def analyze(
        self,
        path: str | Path,
        *,
        evidence_dir: str | Path | None = None,
        progress: ProgressCallback | None = None,
    ) -> AnalysisResult:
        """Analyse one video. Never raises for bad input: the result's verdict is ERROR with a
        message. With ``evidence_dir``, sampled frames and face crops are written there as JPEG
        and referenced (relative paths) from the result."""
        started = time.perf_counter()
        result = AnalysisResult(path=str(path), verdict=Verdict.ERROR)
        result.model = self.classifier.info.to_dict()
        result.model["backend"] = self.classifier.backend
        result.model["device"] = self.classifier.device
        clock = _StageClock()
        report = progress or (lambda stage, fraction: None)
        try:
            self._run(Path(path), result, clock, report, evidence_dir)
        except DetectorError as exc:
            result.verdict, result.error = Verdict.ERROR, str(exc)
            result.fake_probability = None
        except Exception as exc:  # a bug, not bad input: keep the batch going, say what broke
            log.debug("analysis of %s failed", path, exc_info=True)
            result.verdict = Verdict.ERROR
            result.fake_probability = None
            result.error = f"internal error while analysing this file ({type(exc).__name__}: {exc})"
        clock.seconds["total"] = time.perf_counter() - started
        result.timings = {k: round(v, 4) for k, v in clock.seconds.items()}
        report("done", 1.0)
        return result

    # -- stages -------------------------------------------------------------------------------

    def _run(
        self,
        path: Path,
        result: AnalysisResult,
        clock: _StageClock,
        report: ProgressCallback,
        evidence_dir: str | Path | None,
    ) -> None:
        s = self.settings
        report("probe", 0.0)
        t = time.perf_counter()
        info = probe(str(path), max_pixels=s.max_pixels)
        clock.add("probe", time.perf_counter() - t)
        result.video = info.to_dict()
        times = sample_times(
            info, count=s.frames, per_second=s.frames_per_second, max_frames=s.max_frames
        )

        evidence = Path(evidence_dir) if evidence_dir is not None else None
        if evidence is not None:
            (evidence / "frames").mkdir(parents=True, exist_ok=True)
            (evidence / "crops").mkdir(parents=True, exist_ok=True)

        frames = self._look_at_frames(path, info, times, clock, report, evidence)
        if not frames:
            raise MediaError("No frame of this video could be decoded.")
        result.frames_analyzed = len(frames)
        result.sampled_frames = [
            SampledFrameInfo(f.sample_index, round(f.time_s, 4), len(f.detections), f.image_path)
            for f in frames
        ]

        t = time.perf_counter()
        tracks = build_tracks(
            [f.detections for f in frames],
            [f.time_s for f in frames],
            min_iou=s.track_iou,
            min_track_fraction=s.min_track_fraction,
        )
        clock.add("track", time.perf_counter() - t)
        if not tracks:
            result.verdict = Verdict.INCONCLUSIVE
            result.reason = f"No face was found in any of the {len(frames)} sampled frames."
            return

        report("classify", _PROGRESS_CLASSIFY[0])
        threshold = self.classifier.info.threshold
        faces: list[FaceResult] = []
        for n, track in enumerate(tracks):
            faces.append(self._score_track(track, frames, threshold, clock, evidence))
            span = _PROGRESS_CLASSIFY[1] - _PROGRESS_CLASSIFY[0]
            report("classify", _PROGRESS_CLASSIFY[0] + span * (n + 1) / len(tracks))
        result.faces = faces
        most_suspicious = max(faces, key=lambda face: face.fake_probability)
        result.fake_probability = most_suspicious.fake_probability
        result.threshold = threshold
        result.verdict = most_suspicious.verdict

    def _look_at_frames(
        self,
        path: Path,
        info: VideoInfo,
        times: list[float],
        clock: _StageClock,
        report: ProgressCallback,
        evidence: Path | None,
    ) -> list[_FrameFaces]:
        """Decode (in a producer thread), detect and crop each sampled frame, keeping only crops."""
        spec = self.classifier.info.crop
        kept: list[_FrameFaces] = []
        lo, hi = _PROGRESS_FRAMES
        report("frames", lo)
        for frame in _decode_in_background(path, info, times, clock):
            t = time.perf_counter()
            detections = self.detector.detect(frame.image)
            clock.add("detect", time.perf_counter() - t)
            t = time.perf_counter()
            crops = [crop_face(frame.image, d, spec) for d in detections]
            clock.add("crop", time.perf_counter() - t)
            faces = _FrameFaces(frame.sample_index, frame.time_s, detections, crops)
            if evidence is not None:
                t = time.perf_counter()
                faces.image_path = _write_frame(evidence, frame)
                clock.add("evidence", time.perf_counter() - t)
            kept.append(faces)
            report("frames", lo + (hi - lo) * len(kept) / len(times))
        return kept

    def _score_track(
        self,
        track: FaceTrack,
        frames: list[_FrameFaces],
        threshold: float,
        clock: _StageClock,
        evidence: Path | None,
    ) -> FaceResult:
        # A track refers to frames by their position in the list given to build_tracks.
        seen_in = [frames[f.sample_index] for f in track.faces]
        crops = [
            _crop_of(frame, f.detection) for frame, f in zip(seen_in, track.faces, strict=True)
        ]
        t = time.perf_counter()
        scores = self.classifier.score_clip(crops)
        clock.add("classify", time.perf_counter() - t)
        observations = []
        for k, (face, frame, crop) in enumerate(zip(track.faces, seen_in, crops, strict=True)):
            crop_path = None
            if evidence is not None:
                t = time.perf_counter()
                crop_path = f"crops/face{track.track_id}_{frame.sample_index:04d}.jpg"
                write_jpeg(evidence / crop_path, crop)
                clock.add("evidence", time.perf_counter() - t)
            observations.append(
                FaceObservation(
                    sample_index=frame.sample_index,
                    time_s=round(frame.time_s, 4),
                    box=tuple(round(float(v), 1) for v in face.detection.box),  # type: ignore[arg-type]
                    detection_score=round(float(face.detection.score), 4),
                    score=float(scores.frame_probabilities[k]),
                    crop=crop_path,
                )
            )
        p = float(scores.fake_probability)
        return FaceResult(
            track_id=track.track_id,
            verdict=Verdict.FAKE if p >= threshold else Verdict.REAL,
            fake_probability=p,
            frames=observations,
        )


def _crop_of(frame: _FrameFaces, detection: FaceDetection) -> np.ndarray:
    for candidate, crop in zip(frame.detections, frame.crops, strict=True):
        if candidate is detection or candidate.box == detection.box:
            return crop
    raise RuntimeError(f"tracked face not among the detections of frame {frame.sample_index}")


_END = object()


def _decode_in_background(
    path: Path, info: VideoInfo, times: list[float], clock: _StageClock
) -> Iterator[SampledFrame]:
    """Yield sampled frames decoded by a producer thread; decoding errors surface here.

    The queue is bounded so memory holds at most a few decoded frames whatever the video length.
    """
    frames: queue.Queue[object] = queue.Queue(maxsize=_FRAME_QUEUE_DEPTH)
    stop = threading.Event()
    decode_seconds = [0.0]

    def offer(item: object) -> bool:
        """Put unless the consumer has gone away; never blocks forever."""
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        sampled = iter_sampled_frames(str(path), info, times)
        try:
            while True:
                t = time.perf_counter()
                frame = next(sampled, _END)
                decode_seconds[0] += time.perf_counter() - t
                if not offer(frame) or frame is _END:
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            offer(exc)
        finally:
            close = getattr(sampled, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="frame-decoder", daemon=True)
    producer.start()
    try:
        while True:
            item = frames.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join()
        clock.add("decode", decode_seconds[0])


def _write_frame(evidence: Path, frame: SampledFrame) -> str:
    relative = f"frames/{frame.sample_index:04d}.jpg"
    image = frame.image
    h, w = image.shape[:2]
    if max(h, w) > _EVIDENCE_MAX_SIDE:
        scale = _EVIDENCE_MAX_SIDE / max(h, w)
        image = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
        )
    write_jpeg(evidence / relative, image)
    return relative


_ANALYZERS: dict[AnalysisSettings, Analyzer] = {}
_ANALYZERS_LOCK = threading.Lock()


def analyze(
    path: str | Path,
    settings: AnalysisSettings | None = None,
    *,
    evidence_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> AnalysisResult:
    """Convenience wrapper: one video with a process-wide cached ``Analyzer`` for ``settings``."""
    settings = settings or settings_from_env()
    with _ANALYZERS_LOCK:
        analyzer = _ANALYZERS.get(settings)
        if analyzer is None:
            analyzer = _ANALYZERS[settings] = Analyzer(settings)
    return analyzer.analyze(path, evidence_dir=evidence_dir, progress=progress)
