"""The one registry of synthesised fake families, and the mixer that draws one per clip.

A family turns one track of real crops into fakes: ``(crops, landmarks, rng) -> fakes``, T RGB
``uint8`` crops in, T out, deterministic for a given ``rng``. Families are registered by name
with a factory that gets a :class:`FamilyContext` (what some families need, such as the trace
autoencoder), so adding one is one factory plus one ``@register_family("name")``, in the module
that implements it, and that module's import in :func:`_load_builtins`. The built-in ones
(``selfblend``, ``upsampling``, ``autoencoder``, ``flicker``) live in :mod:`.generator_traces`,
``smoothface`` in :mod:`.smooth_face`. Training configs name families in ``fakes`` and
``val_fakes``; :func:`build_families` turns those names into callables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deepfake_detector.training.config import ConfigError

FakeFamily = Callable[
    [Sequence[np.ndarray], Sequence[np.ndarray | None], np.random.Generator], list[np.ndarray]
]
"""``(crops, landmarks, rng) -> fakes``: T RGB uint8 crops of one track in, T fakes out."""


@dataclass(frozen=True)
class FamilyContext:
    """What a family's factory may need."""

    autoencoder: Any = None
    """A trained ``TraceAutoencoder`` (the ``autoencoder`` family needs one)."""


def check_track(crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]) -> None:
    """``ValueError`` unless a family's input is T >= 1 crops with T landmark sets."""
    if len(crops) == 0:
        raise ValueError("need at least one crop")
    if len(landmarks) != len(crops):
        raise ValueError(f"{len(crops)} crops but {len(landmarks)} landmark sets")


FamilyFactory = Callable[[FamilyContext], FakeFamily]
_FACTORIES: dict[str, FamilyFactory] = {}


def register_family(name: str) -> Callable[[FamilyFactory], FamilyFactory]:
    """Decorator: make ``factory(context) -> family`` available as ``name`` (once)."""

    def decorate(factory: FamilyFactory) -> FamilyFactory:
        if name in _FACTORIES:
            raise ValueError(f"fake family {name!r} is registered twice")
        _FACTORIES[name] = factory
        return factory

    return decorate


def _load_builtins() -> None:
    # The built-in families register themselves when their module is imported.
    from deepfake_detector.training import generator_traces, smooth_face  # noqa: F401


def available_families() -> list[str]:
    """Registered family names, in registration order."""
    _load_builtins()
    return list(_FACTORIES)


def build_families(names: Sequence[str], autoencoder: str = "") -> dict[str, FakeFamily]:
    """The families named (in that order); ``autoencoder`` is the trained trace autoencoder's
    path, loaded only when the ``autoencoder`` family is asked for."""
    _load_builtins()
    unknown = [n for n in names if n not in _FACTORIES]
    if unknown:
        raise ConfigError(
            f"unknown fake family {unknown[0]!r}; known: {', '.join(sorted(_FACTORIES))}"
        )
    model = None
    if "autoencoder" in names:
        if not autoencoder:
            raise ConfigError("the autoencoder family needs a trained autoencoder path")
        from deepfake_detector.training.generator_traces import load_autoencoder

        try:
            model = load_autoencoder(autoencoder)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot load the trace autoencoder {autoencoder}: {exc}") from None
    context = FamilyContext(autoencoder=model)
    return {name: _FACTORIES[name](context) for name in names}


class FakeMixer:
    """Choose a family per clip by configured weights and apply it.

    ``FakeMixer({"selfblend": 0.5, "upsampling": 0.3}, families)(crops, lm, rng)`` returns
    ``(fakes, index)``, ``index`` into :attr:`names` (families with weight > 0, in the order
    given), so a dataset can label each clip with its family. The choice and the fake both come
    from ``rng``, so the same state gives the same sample.
    """

    def __init__(self, weights: Mapping[str, float], families: Mapping[str, FakeFamily]) -> None:
        unknown = set(weights) - set(families)
        if unknown:
            raise ValueError(f"unknown fake families {sorted(unknown)}; have {sorted(families)}")
        if any(w < 0 or not math.isfinite(w) for w in weights.values()):
            raise ValueError("weights must be finite and >= 0")
        total = float(sum(weights.values()))
        if total <= 0:
            raise ValueError("at least one weight must be > 0")
        self.families = dict(families)
        self.names = [name for name, w in weights.items() if w > 0]
        self.probabilities = np.array([weights[n] / total for n in self.names])

    def choose(self, rng: np.random.Generator) -> int:
        """Index (into :attr:`names`) of the family of the next clip."""
        return int(rng.choice(len(self.names), p=self.probabilities))

    def __call__(
        self,
        crops: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        rng: np.random.Generator,
    ) -> tuple[list[np.ndarray], int]:
        """``(T fakes, index of the family used)``."""
        k = self.choose(rng)
        return self.families[self.names[k]](crops, landmarks, rng), k

    def __repr__(self) -> str:
        weights = dict(zip(self.names, self.probabilities.round(4).tolist(), strict=True))
        return f"FakeMixer({weights})"
