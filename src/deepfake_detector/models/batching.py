"""One classifier shared by several analysis threads, whose clips are scored in common batches.

On a GPU, scoring one person's 32 crops leaves the device mostly idle; a worker that runs several
jobs at once (``deepfake-detector worker --job-threads N``) hands every job's clips to one
:class:`BatchingClassifier`, whose single scoring thread takes whatever clips are waiting (up to
``max_batch_frames``, after waiting at most ``max_wait_s`` for more to arrive) and scores them in
one call of the backend's ``run_clips``. Decoding and face detection stay in the job threads, in
parallel. Results are the same as scoring each clip alone (to float rounding): padding never
reaches a clip's outputs (``TorchClassifier.run_clips``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from deepfake_detector.models.runtime import BaseClassifier, ClipLogits


@dataclass
class BatchStats:
    """What the scoring thread did; for benchmarks and tests."""

    batches: int = 0
    clips: int = 0
    frames: int = 0
    largest_batch_clips: int = 0
    requests_per_batch: list[int] = field(default_factory=list)
    """How many callers' requests each batch served (the last 1000 batches)."""

    def record(self, requests: int, clips: int, frames: int) -> None:
        self.batches += 1
        self.clips += clips
        self.frames += frames
        self.largest_batch_clips = max(self.largest_batch_clips, clips)
        self.requests_per_batch = [*self.requests_per_batch[-999:], requests]


class _Request:
    def __init__(self, clips: Sequence[np.ndarray]) -> None:
        self.clips = list(clips)
        self.frames = sum(len(clip) for clip in self.clips)
        self.done = threading.Event()
        self.outputs: list[ClipLogits] = []
        self.error: BaseException | None = None


_STOP = object()


class BatchingClassifier(BaseClassifier):
    """A thread-safe front for ``inner``: concurrent ``score_clip`` calls share batches.

    Everything but ``run_clips`` (model info, preprocessing, chunking, calibration) is the base
    class's, so a clip scores the same here as through ``inner`` alone."""

    def __init__(
        self, inner: BaseClassifier, *, max_batch_frames: int = 512, max_wait_s: float = 0.005
    ) -> None:
        super().__init__(inner.resolved, inner.device, inner.precision)
        if max_batch_frames < 1 or max_wait_s < 0:
            raise ValueError("max_batch_frames must be at least 1 and max_wait_s not negative")
        self.inner = inner
        self.backend = inner.backend
        self.max_batch_frames = int(max_batch_frames)
        self.max_wait_s = float(max_wait_s)
        self.stats = BatchStats()
        self._requests: queue.Queue[object] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="batch-scorer", daemon=True)
        self._thread.start()

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.inner.run(frames)

    def run_clips(self, clips: Sequence[np.ndarray]) -> list[ClipLogits]:
        """Queue ``clips`` for the next batch and wait for their outputs."""
        if self._closed:
            raise RuntimeError("this BatchingClassifier is closed")
        request = _Request(clips)
        self._requests.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.outputs

    def close(self) -> None:
        """Stop the scoring thread once the requests already queued are served."""
        if not self._closed:
            self._closed = True
            self._requests.put(_STOP)
            self._thread.join()

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` plus whatever arrives within ``max_wait_s``, up to ``max_batch_frames``."""
        batch, frames = [first], first.frames
        deadline = time.monotonic() + self.max_wait_s
        while frames < self.max_batch_frames:
            try:
                item = self._requests.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Request)
            if batch and frames + item.frames > self.max_batch_frames:
                self._score(batch)  # full: this one starts the next batch
                batch, frames = [], 0
            batch.append(item)
            frames += item.frames
        return batch, False

    def _serve(self) -> None:
        while True:
            item = self._requests.get()
            if item is _STOP:
                return
            assert isinstance(item, _Request)
            batch, stop = self._gather(item)
            self._score(batch)
            if stop:
                return

    def _score(self, batch: list[_Request]) -> None:
        clips = [clip for request in batch for clip in request.clips]
        try:
            outputs = self.inner.run_clips(clips)
        except BaseException as exc:  # handed to every waiting caller, who re-raises it
            for request in batch:
                request.error = exc
                request.done.set()
            return
        self.stats.record(len(batch), len(clips), sum(len(clip) for clip in clips))
        start = 0
        for request in batch:
            request.outputs = outputs[start : start + len(request.clips)]
            start += len(request.clips)
            request.done.set()
