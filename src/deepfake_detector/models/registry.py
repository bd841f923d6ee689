"""Model names and paths → a resolved model (config, sha256, and a way to build its network).

Names are folders shipped inside the package, ``weights/<name>/`` with ``config.json`` and
``model.safetensors``; ``weights/default.json`` (``{"name": ...}``) says which one ``default`` is.
Until trained weights ship, ``default`` is ``resnext50-lstm-untrained``: our sequence model with a
fixed-seed random initialisation, flagged ``trained=False`` so every output says it means nothing.

Paths: ``.pt``/``.pth`` → an original seed checkpoint; ``.safetensors`` (config.json beside it) or a
folder → our format.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from deepfake_detector.errors import ModelError
from deepfake_detector.models.checkpoints import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ModelConfig,
    build_network,
    checkpoint_paths,
    file_sha256,
    load_checkpoint,
    read_config,
    seed_config,
    state_dict_sha256,
)
from deepfake_detector.models.seed import load_seed_model

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_NAME = "default"
UNTRAINED_NAME = "resnext50-lstm-untrained"
UNTRAINED_SEED = 20240601
SEED_SUFFIXES = (".pt", ".pth")


@dataclass
class ResolvedModel:
    """A model identified and described, its network not necessarily loaded yet."""

    config: ModelConfig
    sha256: str
    origin: str
    """Where it came from: a file or folder path, or ``builtin:<name>``."""
    _load: Callable[[], nn.Module]

    def load_network(self) -> nn.Module:
        """A fresh fp32 CPU network in eval mode with the weights loaded (each call a new one)."""
        return self._load().eval()


def untrained_config() -> ModelConfig:
    return ModelConfig(
        name=UNTRAINED_NAME,
        training={"note": f"random initialisation, torch.manual_seed({UNTRAINED_SEED})"},
    )


def _untrained_network() -> nn.Module:
    """Deterministic: the same seed gives the same weights (and sha256) on every run of one torch
    version; the global random state is left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(UNTRAINED_SEED)
        return build_network(untrained_config())


_UNTRAINED_SHA: list[str] = []


def _untrained() -> ResolvedModel:
    """The first call builds the network once for its sha256 and hands that very network to the
    first ``load_network`` call, so a process start initialises ResNeXt50 once, not twice."""
    built: list[nn.Module] = []
    if not _UNTRAINED_SHA:
        network = _untrained_network()
        _UNTRAINED_SHA.append(state_dict_sha256(network.state_dict()))
        built.append(network)

    def load() -> nn.Module:
        return built.pop() if built else _untrained_network()

    return ResolvedModel(untrained_config(), _UNTRAINED_SHA[0], f"builtin:{UNTRAINED_NAME}", load)


def shipped_models() -> list[str]:
    """Names of the model folders inside the package."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(
        p.name
        for p in WEIGHTS_DIR.iterdir()
        if (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()
    )


def default_model_name() -> str:
    """The shipped default named in ``weights/default.json``, else the untrained model."""
    marker = WEIGHTS_DIR / "default.json"
    if marker.is_file():
        try:
            name = json.loads(marker.read_text(encoding="utf-8"))["name"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"broken {marker}: {exc}") from None
        if name in shipped_models():
            return str(name)
        raise ModelError(f"{marker} names {name!r}, which is not a shipped model")
    return UNTRAINED_NAME


def available_models() -> list[str]:
    """Every name ``--model`` accepts (paths aside)."""
    return [DEFAULT_NAME, *shipped_models(), UNTRAINED_NAME]


def model_key(model: str) -> tuple[str, ...]:
    """A cheap identity for caching: the name for registered models, the resolved path plus its
    modification time for files (an edited file is a different model)."""
    if model == DEFAULT_NAME:
        model = default_model_name()
    if model == UNTRAINED_NAME or model in shipped_models():
        return ("name", model)
    p = Path(model).expanduser()
    try:
        st = p.stat()
    except OSError:
        return ("path", str(p))
    return ("path", str(p.resolve()), str(st.st_mtime_ns), str(st.st_size))


def _folder_model(path: Path) -> ResolvedModel:
    weights, config_path = checkpoint_paths(path)
    config = read_config(config_path)
    return ResolvedModel(
        config, file_sha256(weights), str(path), lambda: load_checkpoint(path).network
    )


def _seed_model(path: Path) -> ResolvedModel:
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return ResolvedModel(
        seed_config(path.stem), file_sha256(path), str(path), lambda: load_seed_model(path)
    )


_RESOLVE_LOCK = threading.Lock()


def resolve_model(model: str) -> ResolvedModel:
    """Identify ``model`` (a name or a path) and read its config; weights are read when the
    network is loaded. Raises ``ModelError`` naming the known models when nothing matches."""
    with _RESOLVE_LOCK:
        name = default_model_name() if model == DEFAULT_NAME else model
        if name == UNTRAINED_NAME:
            return _untrained()
        if name in shipped_models():
            return _folder_model(WEIGHTS_DIR / name)
        p = Path(model).expanduser()
        if p.suffix.lower() in SEED_SUFFIXES:
            return _seed_model(p)
        if p.is_dir() or p.suffix.lower() == ".safetensors":
            return _folder_model(p)
        known = ", ".join(available_models())
        if p.exists():
            raise ModelError(
                f"cannot tell what kind of model {model!r} is: use a seed checkpoint (.pt/.pth), "
                f"a .safetensors file with config.json beside it, a model folder, "
                f"or one of: {known}"
            )
        raise ModelError(f"unknown model {model!r}: no such file, and not one of: {known}")
