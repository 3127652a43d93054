"""The speculation setting: off, prompt lookup, or a draft model (by folder).

Stored under ``"speculation"`` in settings.json. A missing or bad value means off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODES = ("off", "lookup", "draft")
MODE_NAMES = {"off": "Off", "lookup": "Prompt lookup", "draft": "Draft model"}


@dataclass(frozen=True)
class SpeculationPrefs:
    mode: str = "off"
    draft_folder: str = ""  # only meaningful in "draft" mode

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, problems: list[str]) -> SpeculationPrefs:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            problems.append("speculation settings")
            return cls()
        mode, folder = data.get("mode", "off"), data.get("draft_folder", "")
        if mode not in MODES:
            problems.append(f"speculation mode must be one of {MODES}")
            return cls()
        if not isinstance(folder, str):
            problems.append("speculation draft folder must be text")
            return cls()
        if mode == "draft" and not folder:
            problems.append("speculation with a draft model needs the draft's folder")
            return cls()
        return cls(mode, folder if mode == "draft" else "")

    def label(self) -> str:
        """The setting's short name, for sentences ("Could not use prompt lookup")."""
        if self.mode == "draft":
            return f"the draft model {Path(self.draft_folder).name}"
        return "prompt lookup" if self.mode == "lookup" else "no speculation"

    def describe(self) -> str:
        """What a status line says about this setting."""
        if self.mode == "lookup":
            return "Prompt lookup is on."
        if self.mode == "draft":
            return f"Drafting with {Path(self.draft_folder).name}."
        return "Off."
