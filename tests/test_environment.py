"""The installed environment itself: one ONNX Runtime, no CUDA build of torch."""

from __future__ import annotations

from importlib import metadata

ONNXRUNTIME_DISTRIBUTIONS = {
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-qnn",
}


def _installed() -> set[str]:
    return {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}


def test_exactly_one_onnxruntime_distribution():
    # Two of them overwrite each other's files in site-packages.
    assert len(_installed() & ONNXRUNTIME_DISTRIBUTIONS) == 1


def test_torch_if_present_is_the_pinned_cpu_build():
    if "torch" in _installed():
        assert metadata.version("torch").startswith("2.13.0")
        assert not any(name.startswith("nvidia-") for name in _installed())
