"""``backend=auto`` on the CPU: each backend is timed once per model and machine, the fastest one
that agrees with PyTorch is used, and the decision is remembered (also across processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
from model_fixtures import small_sequence_folder

from deepfake_detector.models import load_classifier
from deepfake_detector.models.backend_choice import (
    CANDIDATES,
    choice_file,
    choose_backend,
    host_key,
)
from deepfake_detector.models.classifier import clear_classifier_cache
from deepfake_detector.models.registry import resolve_model
from deepfake_detector.models.runtime import create_classifier

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def fresh_model(tmp_path: Path) -> Path:
    """A small model no other test has measured (its own weights, so its own key)."""
    return small_sequence_folder(tmp_path / "model", zlib.crc32(tmp_path.name.encode()))


def _real_factory(resolved):
    return lambda name: create_classifier(resolved, "cpu", name)


def test_auto_measures_every_backend_once_and_uses_the_fastest(fresh_model):
    resolved = resolve_model(str(fresh_model))
    name, built, record = choose_backend(resolved, _real_factory(resolved))
    assert built is not None and built.backend == name
    timings = record["ms_per_clip"]
    assert set(timings) == set(CANDIDATES)  # all three load here
    assert name == min(timings, key=timings.get)
    assert all(ms > 0 for ms in timings.values())
    stored = json.loads(choice_file().read_text())[host_key(resolved)]
    assert stored == record
    # Asked again: answered from the file, nothing built or timed.
    again, built_again, record_again = choose_backend(resolved, _real_factory(resolved))
    assert (again, built_again, record_again) == (name, None, record)
    clear_classifier_cache()
    assert load_classifier(str(fresh_model)).backend == name


def test_a_backend_that_disagrees_or_fails_is_not_chosen(fresh_model):
    """Fault injection around the real classifiers: OpenVINO's logits shifted by 0.5, ONNX
    Runtime failing to load."""
    resolved = resolve_model(str(fresh_model))

    class Shifted:
        def __init__(self, inner):
            self.inner, self.backend = inner, inner.backend

        def run(self, frames):
            clip, frame = self.inner.run(frames)
            return clip + 0.5, frame + 0.5

    def factory(name):
        if name == "onnxruntime":
            raise RuntimeError("simulated load failure")
        real = create_classifier(resolved, "cpu", name)
        return Shifted(real) if name == "openvino" else real

    name, _, record = choose_backend(resolved, factory)
    assert name == "torch"
    assert record["excluded"] == {
        "onnxruntime": "RuntimeError: simulated load failure",
        "openvino": "its outputs differ from PyTorch's",
    }
    assert set(record["ms_per_clip"]) == {"torch"}


def test_an_unreadable_choice_file_is_measured_again(fresh_model):
    resolved = resolve_model(str(fresh_model))
    choice_file().parent.mkdir(parents=True, exist_ok=True)
    choice_file().write_text("{not json")
    name, built, _ = choose_backend(resolved, _real_factory(resolved))
    assert built is not None
    assert json.loads(choice_file().read_text())[host_key(resolved)]["backend"] == name


def test_the_key_names_the_model_the_cpu_and_the_versions(fresh_model, sequence_folder):
    a, b = resolve_model(str(fresh_model)), resolve_model(str(sequence_folder))
    assert host_key(a) != host_key(b)
    key = host_key(a)
    assert a.sha256[:16] in key and "torch=" in key and "onnxruntime=" in key
    assert f"cores={len(os.sched_getaffinity(0))}" in key


def test_concurrent_processes_measure_once(fresh_model):
    """Two processes loading the same new model at once: one measures, the other waits for it
    and reads its decision."""
    script = textwrap.dedent(
        f"""
        from deepfake_detector.models.backend_choice import choose_backend
        from deepfake_detector.models.registry import resolve_model
        from deepfake_detector.models.runtime import create_classifier
        r = resolve_model({str(fresh_model)!r})
        name, built, _ = choose_backend(r, lambda n: create_classifier(r, "cpu", n))
        print(name, "measured" if built is not None else "read")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[1] for o in outputs) == ["measured", "read"]
    assert outputs[0][0] == outputs[1][0]


def test_a_gpu_or_a_reduced_precision_is_not_measured(fresh_model):
    from deepfake_detector.models.runtime import resolve_backend

    resolved = resolve_model(str(fresh_model))
    assert resolve_backend(resolved, "cpu", "auto", "bf16") == ("torch", None)
    assert resolve_backend(resolved, "cpu", "openvino") == ("openvino", None)
    assert not choice_file().exists() or host_key(resolved) not in choice_file().read_text()
