"""The local server's settings: on/off, port, parallel requests (KV slots) and the token.

Stored under ``"server"`` in settings.json. Missing or bad values take the defaults; a
missing token gets a new random one (``secrets.token_urlsafe``), which is then saved.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

PORT_RANGE = (1024, 65535)
SLOTS_RANGE = (1, 16)


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class ServerPrefs:
    enabled: bool = False
    port: int = 8080
    slots: int = 4  # parallel requests: the model is reloaded with this many KV slots
    token: str = field(default_factory=new_token)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any, problems: list[str]) -> ServerPrefs:
        prefs = cls()
        if data is None:
            return prefs
        if not isinstance(data, dict):
            problems.append("server settings")
            return prefs
        if "enabled" in data:
            if isinstance(data["enabled"], bool):
                prefs.enabled = data["enabled"]
            else:
                problems.append("server enabled must be true or false")
        for name, (low, high) in (("port", PORT_RANGE), ("slots", SLOTS_RANGE)):
            if name in data:
                value = data[name]
                if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                    setattr(prefs, name, value)
                else:
                    problems.append(f"server {name} must be a whole number between {low} and {high}")
        token = data.get("token")
        if isinstance(token, str) and token.strip():
            prefs.token = token.strip()
        elif "token" in data:
            problems.append("server token must be text")
        return prefs
