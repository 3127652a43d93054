"""The app's response state; it alone decides which controls are enabled."""

from __future__ import annotations

from enum import Enum


class AppState(Enum):
    IDLE = "Idle"
    LOADING = "Loading"
    PREFILLING = "Prefilling"
    GENERATING = "Generating"
    STOPPING = "Stopping"

    @property
    def busy(self) -> bool:
        return self is not AppState.IDLE

    @property
    def answering(self) -> bool:
        return self in (AppState.PREFILLING, AppState.GENERATING, AppState.STOPPING)
