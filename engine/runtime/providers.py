"""Pick an ONNX Runtime execution provider, falling back to CPU with reasons."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import onnxruntime as ort

# Best first. Auto tries each available one in this order.
_PREFERENCE = (
    ("cuda", "CUDAExecutionProvider", "GPU (CUDA)"),
    ("dml", "DmlExecutionProvider", "GPU (DirectML)"),
    ("coreml", "CoreMLExecutionProvider", "Apple Neural Engine/GPU (CoreML)"),
    ("cpu", "CPUExecutionProvider", "CPU"),
)
_BY_CHOICE = {choice: (ep, device) for choice, ep, device in _PREFERENCE}


@dataclass(frozen=True)
class ProviderAttempt:
    """One provider to try: its short name, ORT name and device label."""

    choice: str
    ep_name: str
    device: str


def candidates(choice: str) -> list[ProviderAttempt]:
    """Providers to try in order for a user choice; CPU always closes the list."""
    if choice != "auto" and choice not in _BY_CHOICE:
        raise ValueError(f"unknown execution provider {choice!r}")
    names = [c for c, _, _ in _PREFERENCE] if choice == "auto" else [choice, "cpu"]
    seen: list[ProviderAttempt] = []
    for name in names:
        ep, device = _BY_CHOICE[name]
        if all(a.choice != name for a in seen):
            seen.append(ProviderAttempt(name, ep, device))
    return seen


def cuda_runtime_missing() -> str | None:
    """Why CUDA cannot start here, or None if its libraries seem present.

    onnxruntime-gpu lists CUDA as available on any machine; creating a session
    then logs a long error. Checking for the driver first gives a clean reason.
    """
    import ctypes.util

    if os.name == "nt":
        found = ctypes.util.find_library("nvcuda")
    else:
        found = ctypes.util.find_library("cuda") or os.path.exists("/usr/lib/x86_64-linux-gnu/libcuda.so.1")
    return None if found else "no NVIDIA driver found"


def _why_unavailable(attempt: ProviderAttempt, available: set[str]) -> str | None:
    if attempt.ep_name not in available:
        return "not included in this onnxruntime build"
    if attempt.choice == "cuda":
        return cuda_runtime_missing()
    return None


def create_session(
    build: Callable[[list[str]], ort.InferenceSession], choice: str
) -> tuple[ort.InferenceSession, ProviderAttempt, tuple[tuple[str, str], ...]]:
    """Create a session on the best provider that starts; record why others didn't."""
    available = set(ort.get_available_providers())
    reasons: list[tuple[str, str]] = []
    for attempt in candidates(choice):
        if attempt.choice != "cpu":
            why = _why_unavailable(attempt, available)
            if why:
                reasons.append((attempt.choice, why))
                continue
        providers = [attempt.ep_name] if attempt.choice == "cpu" else [attempt.ep_name, "CPUExecutionProvider"]
        try:
            session = build(providers)
        except Exception as exc:  # a provider that fails to start must not stop the app
            if attempt.choice == "cpu":
                raise
            reasons.append((attempt.choice, f"failed to start: {str(exc).splitlines()[0][:200]}"))
            continue
        if attempt.choice != "cpu" and session.get_providers()[0] != attempt.ep_name:
            reasons.append((attempt.choice, "did not take the model's nodes"))
            continue
        return session, attempt, tuple(reasons)
    raise RuntimeError("CPUExecutionProvider is missing from onnxruntime")  # never on a real build
