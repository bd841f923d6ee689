"""Video or photo → sampled frames → faces → one track per person, each with its crops.

The face half of the pipeline, shared by analysis (``Analyzer``) and by the training crop cache, so
that training and serving cannot crop differently. Decoding runs in a producer thread feeding a
small bounded queue: decoding the next frame overlaps face detection on this one while at most a
few frames are ever in memory, and each frame is cropped as soon as its faces are found, then
dropped.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deepfake_detector.analysis.evidence import write_jpeg
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.errors import MediaError
from deepfake_detector.faces import (
    CropSpec,
    FaceDetection,
    FaceDetector,
    FaceTrack,
    build_tracks,
    create_detector,
    crop_face,
)
from deepfake_detector.faces.crop import crop_matrix
from deepfake_detector.faces.guided import GuidedDetection
from deepfake_detector.faces.tracking import box_iou
from deepfake_detector.media import MediaSource, SampledFrame, open_media

ProgressCallback = Callable[[str, float], None]
"""Called with (stage name, fraction of that stage done 0..1)."""

_FRAME_QUEUE_DEPTH = 3
_EVIDENCE_MAX_SIDE = 1280
IMAGE_PAD = 0.4
"""Face images are edge-padded by this fraction per side before detection: detectors miss faces
that fill the whole picture (tight crops)."""


@dataclass
class StageClock:
    """Seconds spent per stage, summed over calls."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


@dataclass
class FrameFaces:
    """What is kept of one sampled frame once it has been looked at: never the frame itself."""

    sample_index: int
    time_s: float
    detections: list[FaceDetection]
    crops: list[np.ndarray]
    image_path: str | None = None
    """Evidence JPEG, relative to the evidence folder, when one is written."""


@dataclass
class Person:
    """One face track with, per frame it was seen in, the frame, the detection and the crop."""

    track_id: int
    frames: list[FrameFaces]
    detections: list[FaceDetection]
    crops: list[np.ndarray]

    def crop_landmarks(self, spec: CropSpec) -> list[np.ndarray | None]:
        """The 5-point landmarks of each crop in that crop's pixel coordinates."""
        out: list[np.ndarray | None] = []
        for detection in self.detections:
            if detection.landmarks is None:
                out.append(None)
                continue
            m = crop_matrix(detection, spec)
            pts = np.asarray(detection.landmarks, dtype=np.float64)
            out.append(pts @ m[:, :2].T + m[:, 2])
        return out


@dataclass(frozen=True)
class ImageFace:
    """The face of an image that already is (roughly) a face crop."""

    crop: np.ndarray
    landmarks: np.ndarray | None
    """``(5, 2)`` in crop pixel coordinates."""


@dataclass
class ExtractedFaces:
    frames: list[FrameFaces]
    """Every sampled frame that decoded, in time order."""
    people: list[Person]


class FaceExtractor:
    """Samples frames, detects, crops and tracks faces with one detector loaded once."""

    def __init__(
        self, settings: AnalysisSettings, crop: CropSpec, detector: FaceDetector | None = None
    ) -> None:
        self.settings = settings
        self.crop = crop
        options = {} if settings.detect_device == "cpu" else {"device": settings.detect_device}
        self.detector = detector or create_detector(
            settings.detector,
            max_side=settings.detect_max_side,
            min_score=settings.detect_min_score,
            min_face_px=settings.min_face_px,
            **options,
        )

    def open(self, path: str | Path) -> MediaSource:
        """The file as a media source (a video or a photo, by content; a photo is decoded here,
        once); ``MediaError`` if neither."""
        return open_media(path, max_pixels=self.settings.max_pixels)

    def extract(
        self,
        source: MediaSource,
        *,
        clock: StageClock | None = None,
        progress: ProgressCallback | None = None,
        evidence_dir: Path | None = None,
    ) -> ExtractedFaces:
        """Raises ``MediaError`` when no frame decodes; an empty ``people`` means no face."""
        s = self.settings
        clock = clock if clock is not None else StageClock()
        report = progress or (lambda stage, fraction: None)
        times = source.sample_times(s.frames, s.frames_per_second, s.max_frames)
        detect: Callable[[np.ndarray, float], list[FaceDetection]]
        if source.kind == "image":
            detect = self._detect_photo
        else:
            detect = GuidedDetection(self.detector, s.full_detect_every)
        if evidence_dir is not None:
            (evidence_dir / "frames").mkdir(parents=True, exist_ok=True)
        frames: list[FrameFaces] = []
        decoded = _decode_in_background(
            source, times, clock, s.sample_snap, s.max_decode_megapixels * 1e6, s.decode_device
        )
        for frame in decoded:
            t = time.perf_counter()
            detections = detect(frame.image, frame.time_s)
            clock.add("detect", time.perf_counter() - t)
            t = time.perf_counter()
            crops = [crop_face(frame.image, d, self.crop) for d in detections]
            clock.add("crop", time.perf_counter() - t)
            kept = FrameFaces(frame.sample_index, frame.time_s, detections, crops)
            if evidence_dir is not None:
                t = time.perf_counter()
                kept.image_path = _write_frame(evidence_dir, frame)
                clock.add("evidence", time.perf_counter() - t)
            frames.append(kept)
            report("frames", len(frames) / len(times))
        if not frames:
            raise MediaError(f"No frame of this {source.kind} could be decoded.")

        t = time.perf_counter()
        tracks = build_tracks(
            [f.detections for f in frames],
            [f.time_s for f in frames],
            min_iou=s.track_iou,
            min_track_fraction=s.min_track_fraction,
        )
        people = [_person(track, frames) for track in tracks]
        clock.add("track", time.perf_counter() - t)
        return ExtractedFaces(frames, people)

    def face_image(self, image: np.ndarray) -> ImageFace | None:
        """The largest face of an RGB image that is itself a face photo or crop, cut exactly as
        video faces are (same detector, crop and alignment); ``None`` when none is found."""
        padded, _, _ = _pad(image)
        detections = self.detector.detect(padded)
        if not detections:
            return None
        best = _largest(detections)
        landmarks = None
        if best.landmarks is not None:
            m = crop_matrix(best, self.crop)
            landmarks = np.asarray(best.landmarks, np.float64) @ m[:, :2].T + m[:, 2]
        return ImageFace(crop_face(padded, best, self.crop), landmarks)

    def _detect_padded(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces of ``image`` found in its padded copy (see ``_pad``), in ``image``'s
        coordinates."""
        padded, px, py = _pad(image)
        return [_shifted(d, -px, -py) for d in self.detector.detect(padded)]

    def _detect_photo(self, image: np.ndarray, time_s: float = 0.0) -> list[FaceDetection]:
        """A photo's faces: those found padded, as training and evaluation cut face photos (a
        profile picture is often all face), plus those found only at full size (small faces
        in a group photo, which padding shrinks below the detector's reach). ``time_s`` is
        unused: a photo is one frame."""
        padded = self._detect_padded(image)
        extra = [
            d
            for d in self.detector.detect(image)
            if all(box_iou(d.box, p.box) < _SAME_FACE_IOU for p in padded)
        ]
        return padded + extra


def _pad(image: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``image`` edge-padded by ``IMAGE_PAD`` per side (detectors miss a face that fills the
    picture), with the padding's width and height."""
    h, w = image.shape[:2]
    py, px = round(IMAGE_PAD * h), round(IMAGE_PAD * w)
    return cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_REPLICATE), px, py


_SAME_FACE_IOU = 0.3
"""Two detections of a photo overlapping this much are one face."""


def _shifted(detection: FaceDetection, dx: float, dy: float) -> FaceDetection:
    x1, y1, x2, y2 = detection.box
    landmarks = detection.landmarks
    if landmarks is not None:
        landmarks = np.asarray(landmarks, np.float64) + np.array([dx, dy])
    return dataclasses.replace(
        detection, box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy), landmarks=landmarks
    )


def _largest(detections: list[FaceDetection]) -> FaceDetection:
    return max(detections, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))


def _person(track: FaceTrack, frames: list[FrameFaces]) -> Person:
    # A track refers to frames by their position in the list given to build_tracks.
    seen_in = [frames[face.sample_index] for face in track.faces]
    detections = [face.detection for face in track.faces]
    crops = [_crop_of(frame, d) for frame, d in zip(seen_in, detections, strict=True)]
    return Person(track.track_id, seen_in, detections, crops)


def _crop_of(frame: FrameFaces, detection: FaceDetection) -> np.ndarray:
    for candidate, crop in zip(frame.detections, frame.crops, strict=True):
        if candidate is detection or candidate.box == detection.box:
            return crop
    raise RuntimeError(f"tracked face not among the detections of frame {frame.sample_index}")


_END = object()


def _decode_in_background(
    source: MediaSource,
    times: list[float],
    clock: StageClock,
    snap: float = 0.0,
    max_decode_pixels: float = 0.0,
    device: str = "cpu",
) -> Iterator[SampledFrame]:
    """Yield sampled frames decoded by a producer thread (``snap``, ``device``: see
    ``MediaSource.frames``); decoding errors surface here.

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
        sampled = source.frames(
            times, snap=snap, max_decode_pixels=max_decode_pixels, device=device
        )
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
        size = (round(w * scale), round(h * scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    write_jpeg(evidence / relative, image)
    return relative
