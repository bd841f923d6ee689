"""The backends behind ``Classifier``: PyTorch, ONNX Runtime and OpenVINO.

All three share one preprocessing function, one chunking rule and one calibration step; they
differ only in how a batch of preprocessed frames becomes ``(clip logit, frame logits)``. ONNX
Runtime and OpenVINO run the file that ``export.cached_onnx`` writes once per model.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from deepfake_detector.errors import ModelError
from deepfake_detector.hostinfo import usable_cores
from deepfake_detector.media import cuda_context
from deepfake_detector.models.backend_choice import choose_backend
from deepfake_detector.models.checkpoints import ModelConfig
from deepfake_detector.models.classifier import ClipScores, ModelInfo
from deepfake_detector.models.export import INPUT_NAME, cache_dir, cached_onnx
from deepfake_detector.models.registry import ResolvedModel
from deepfake_detector.models.sequence import SEQUENCE_ARCHITECTURE

BACKENDS = ("torch", "onnxruntime", "openvino")
ClipLogits = tuple[float, np.ndarray]
"""One clip's raw outputs: its clip logit and its ``(T,)`` frame logits (float64)."""
PRECISIONS = ("fp32", "bf16", "fp16")


def model_info(resolved: ResolvedModel) -> ModelInfo:
    c = resolved.config
    return ModelInfo(
        name=c.name,
        sha256=resolved.sha256,
        architecture=c.architecture,
        backbone=c.backbone,
        crop=c.crop,
        threshold=c.threshold,
        calibrated=c.calibrated,
        trained=c.trained,
        band=c.band if c.band is not None else (c.threshold, c.threshold),
        ece=c.ece,
        summary=c.summary,
        temperature=c.temperature,
    )


def resolve_device(device: str) -> torch.device:
    """``auto`` → the first GPU when CUDA works, else the CPU; ``cuda``/``cuda:N`` are checked so
    that a machine without a usable GPU gets a clear message, not a stack trace."""
    text = (device or "auto").strip().lower()
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        cuda_context.prepare(0)
        return torch.device("cuda", 0)
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            build = "has no CUDA support" if torch.version.cuda is None else "sees no usable GPU"
            raise ModelError(
                f"device {device!r} requested, but this PyTorch ({torch.__version__}) {build}; "
                "use --device cpu (or auto)"
            )
        try:
            dev = torch.device(text)
        except RuntimeError:
            raise ModelError(f"invalid device {device!r}: use cuda or cuda:N") from None
        index = 0 if dev.index is None else dev.index
        if index >= torch.cuda.device_count():
            raise ModelError(
                f"device {device!r} requested, but only {torch.cuda.device_count()} GPU(s) exist"
            )
        cuda_context.prepare(index)  # DFD_CUDA_WAIT, before PyTorch starts the context
        return torch.device("cuda", index)
    raise ModelError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")


def preprocess(crops: Sequence[np.ndarray], config: ModelConfig) -> np.ndarray:
    """RGB ``uint8`` crops → ``(T, 3, S, S)`` float32 the way the model was trained: resized to its
    input size if needed (through ``detail_scale`` of it where the config sets one), channels
    reordered (the seed wants BGR), ``/255``, then normalised with the config's mean/std (indexed
    in the model's own channel order)."""
    if len(crops) == 0:
        raise ModelError("no face crops to score")
    s = config.input_size
    batch = np.empty((len(crops), s, s, 3), np.float32)
    for i, crop in enumerate(crops):
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
            raise ModelError(
                f"face crop {i} must be an RGB uint8 image (H, W, 3), got {crop.dtype} {crop.shape}"
            )
        if config.detail_scale < 1.0:
            small = round(s * config.detail_scale)
            crop = cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA)
            crop = cv2.resize(crop, (s, s), interpolation=cv2.INTER_LINEAR)
        elif crop.shape[:2] != (s, s):
            shrink = crop.shape[0] > s or crop.shape[1] > s
            crop = cv2.resize(
                crop, (s, s), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        batch[i] = crop
    if config.channel_order == "BGR":
        batch = batch[..., ::-1]
    mean = np.asarray(config.mean, np.float32)
    std = np.asarray(config.std, np.float32)
    batch = (batch / np.float32(255.0) - mean) / std
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float64)))


def calibrate(
    clip_logits: Sequence[float],
    chunk_lengths: Sequence[int],
    frame_logits: np.ndarray,
    config: ModelConfig,
) -> ClipScores:
    """Logits → calibrated probabilities. A clip scored in chunks gets the length-weighted mean of
    its chunks' clip logits; ``clip_reduction`` can instead average the frames (the seed mode)."""
    t = config.temperature
    frame_p = _sigmoid(np.asarray(frame_logits, np.float64) / t)
    if config.clip_reduction == "mean_probability":
        p = float(frame_p.mean())
    elif config.clip_reduction == "mean_logit":
        p = float(_sigmoid(np.mean(frame_logits) / t))
    else:
        logit = float(np.average(np.asarray(clip_logits, np.float64), weights=chunk_lengths))
        p = float(_sigmoid(logit / t))
    return ClipScores(fake_probability=p, frame_probabilities=frame_p.astype(np.float32))


class BaseClassifier:
    """Preprocess → chunk → run → calibrate; subclasses implement ``run`` only."""

    backend = "base"

    def __init__(self, resolved: ResolvedModel, device: str, precision: str) -> None:
        self.resolved = resolved
        self.config = resolved.config
        self.info = model_info(resolved)
        self.device = device
        self.precision = precision

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, T, 3, S, S)`` float32 → ``(clip logits (B,), frame logits (B, T))``."""
        raise NotImplementedError

    def run_clips(self, clips: Sequence[np.ndarray]) -> list[ClipLogits]:
        """Preprocessed clips ``(T_i, 3, S, S)``, any lengths → one ``(clip logit, frame logits)``
        each, in order. Clips of equal length share one ``run`` (a batch)."""
        out: list[ClipLogits | None] = [None] * len(clips)
        by_length: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_length.setdefault(len(clip), []).append(i)
        for members in by_length.values():
            c, f = self.run(np.stack([clips[i] for i in members]))
            for k, i in enumerate(members):
                out[i] = (float(c[k]), np.asarray(f[k], np.float64))
        return [o for o in out if o is not None]

    def logits(self, crops: Sequence[np.ndarray]) -> tuple[list[float], list[int], np.ndarray]:
        """Raw outputs: per-chunk clip logits, chunk lengths and ``(T,)`` frame logits. Clips longer
        than ``max_frames`` are split into contiguous near-equal chunks (memory stays bounded, and
        the temporal head sees lengths like those it was trained on)."""
        x = preprocess(crops, self.config)
        chunks = np.array_split(x, math.ceil(len(x) / self.config.max_frames))
        outputs = self.run_clips(chunks)
        clip = [c for c, _ in outputs]
        frames = np.concatenate([f for _, f in outputs])
        return clip, [len(chunk) for chunk in chunks], frames

    def score_clip(self, crops: list[np.ndarray]) -> ClipScores:
        """Score one person's face crops (RGB ``uint8``, time order)."""
        clip, lengths, frame_logits = self.logits(crops)
        return calibrate(clip, lengths, frame_logits, self.config)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.info.name} backend={self.backend} "
            f"device={self.device} precision={self.precision}>"
        )


class TorchClassifier(BaseClassifier):
    """PyTorch eager. fp32 by default (exact); ``bf16`` autocast on CPU (fast with AVX512-BF16 or
    AMX), ``fp16``/``bf16`` on CUDA. ``channels_last`` speeds up ResNeXt convolutions on CPU."""

    backend = "torch"

    def __init__(
        self,
        resolved: ResolvedModel,
        device: str = "auto",
        precision: str = "fp32",
        channels_last: bool = True,
    ) -> None:
        dev = resolve_device(device)
        if precision not in PRECISIONS:
            raise ModelError(f"unknown precision {precision!r}: use one of {PRECISIONS}")
        if dev.type == "cpu" and precision == "fp16":
            raise ModelError("fp16 is not supported on CPU; use fp32 or bf16")
        super().__init__(resolved, str(dev), precision)
        self.torch_device = dev
        self.channels_last = channels_last
        network = resolved.load_network().to(dev)
        if channels_last:
            network = network.to(memory_format=torch.channels_last)
        self.network = network.eval()

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.torch_device.type, dtype=dtype)

    def to_tensor(self, frames: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.torch_device)
        if self.channels_last:
            b, t = x.shape[:2]
            x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, t))
        return x

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode(), self.autocast():
            clip, frame = self.network.scores(self.to_tensor(frames))
        return clip.float().cpu().numpy(), frame.float().cpu().numpy()

    def run_clips(self, clips: Sequence[np.ndarray]) -> list[ClipLogits]:
        """Our sequence model takes clips of different lengths in one batch: the backbone runs
        once over every clip's frames together, and the temporal head over the features padded
        to the longest clip, with the lengths (packed LSTM, masked mean), so padding costs no
        backbone work and never reaches a clip's outputs. The seed's network cannot, and is
        batched by equal length."""
        lengths = [len(clip) for clip in clips]
        if len(set(lengths)) <= 1 or self.config.architecture != SEQUENCE_ARCHITECTURE:
            return super().run_clips(clips)
        every_frame = np.concatenate(clips)[None]  # (1, sum T, 3, S, S)
        with torch.inference_mode(), self.autocast():
            feats = self.network.features(self.to_tensor(every_frame))[0]
            padded = feats.new_zeros((len(clips), max(lengths), feats.shape[-1]))
            for i, part in enumerate(torch.split(feats, lengths)):
                padded[i, : lengths[i]] = part
            valid = torch.tensor(lengths)
            clip_logits, frame_logits = self.network.head(padded, valid)
        c, f = clip_logits.float().cpu().numpy(), frame_logits.float().cpu().numpy()
        return [
            (float(c[i]), np.asarray(f[i, : len(clip)], np.float64)) for i, clip in enumerate(clips)
        ]


def _cpu_threads() -> int:
    return usable_cores()


def _cpu_only(backend: str, device: str) -> str:
    if device not in ("auto", "cpu"):
        raise ModelError(
            f"the {backend} backend runs on the CPU here; use --device cpu, or --backend torch "
            f"for {device!r}"
        )
    return "cpu"


class OnnxRuntimeClassifier(BaseClassifier):
    """ONNX Runtime on the CPU, fp32, one intra-op thread per available core (no spinning)."""

    backend = "onnxruntime"

    def __init__(
        self,
        resolved: ResolvedModel,
        device: str = "auto",
        precision: str = "fp32",
        onnx_path: str | Path | None = None,
    ) -> None:
        import onnxruntime as ort

        if precision != "fp32":
            raise ModelError(
                "the onnxruntime backend runs fp32 only here; "
                "use --backend openvino or torch for bf16"
            )
        super().__init__(resolved, _cpu_only(self.backend, device), precision)
        self.onnx_path = Path(onnx_path) if onnx_path else cached_onnx(resolved)
        options = ort.SessionOptions()
        options.intra_op_num_threads = _cpu_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads would otherwise spin, stealing the cores that decoding and face
        # detection share with scoring in the pipeline.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(f"onnxruntime could not load {self.onnx_path}: {exc}") from None

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        clip, frame = self.session.run(None, {INPUT_NAME: np.ascontiguousarray(frames, np.float32)})
        return clip, frame


class OpenVinoClassifier(BaseClassifier):
    """OpenVINO on the CPU. fp32 by default (the hint is set explicitly: OpenVINO would otherwise
    pick bf16 by itself on CPUs with AMX); ``bf16`` opts into the faster, less exact mode."""

    backend = "openvino"

    def __init__(
        self,
        resolved: ResolvedModel,
        device: str = "auto",
        precision: str = "fp32",
        onnx_path: str | Path | None = None,
    ) -> None:
        import openvino as ov

        if precision not in ("fp32", "bf16"):
            raise ModelError("the openvino backend supports fp32 and bf16")
        super().__init__(resolved, _cpu_only(self.backend, device), precision)
        self.onnx_path = Path(onnx_path) if onnx_path else cached_onnx(resolved)
        core = ov.Core()
        config = {
            "INFERENCE_PRECISION_HINT": "f32" if precision == "fp32" else "bf16",
            "PERFORMANCE_HINT": "LATENCY",
            "CACHE_DIR": str(cache_dir().parent / "openvino"),
        }
        try:
            self.compiled = core.compile_model(str(self.onnx_path), "CPU", config)
        except Exception as exc:
            raise ModelError(f"OpenVINO could not load {self.onnx_path}: {exc}") from None
        self.request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # an infer request serves one call at a time

    def run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            result = self.request.infer({INPUT_NAME: np.ascontiguousarray(frames, np.float32)})
            return np.array(result[0]), np.array(result[1])


def resolve_backend(
    resolved: ResolvedModel, device: str = "auto", backend: str = "auto", precision: str = "fp32"
) -> tuple[str, BaseClassifier | None]:
    """What ``backend`` means here: ``auto`` is PyTorch on a GPU or for a precision other than
    fp32, else the backend measured fastest for this model on this CPU
    (:mod:`~deepfake_detector.models.backend_choice`). Returns the name and, when this call had
    to measure, the instance it already built."""
    if backend not in ("auto", None, ""):
        return backend, None
    if precision != "fp32" or resolve_device(device).type != "cpu":
        return "torch", None
    name, built, _ = choose_backend(
        resolved, lambda candidate: create_classifier(resolved, "cpu", candidate, precision)
    )
    return name, built


def create_classifier(
    resolved: ResolvedModel, device: str = "auto", backend: str = "auto", precision: str = "fp32"
) -> BaseClassifier:
    """One backend instance for ``resolved`` (``auto``: see :func:`resolve_backend`)."""
    name, built = resolve_backend(resolved, device, backend, precision)
    if built is not None:
        return built
    if name == "torch":
        return TorchClassifier(resolved, device, precision)
    if name == "onnxruntime":
        return OnnxRuntimeClassifier(resolved, device, precision)
    if name == "openvino":
        return OpenVinoClassifier(resolved, device, precision)
    raise ModelError(f"unknown backend {backend!r}: use auto, {', '.join(BACKENDS)}")
