"""User settings: a JSON file in config_dir(), defaults merged in, per-model overrides.

The GUI reads and writes this; the worker never does. Each request carries a
``ModelSettings`` snapshot instead. A corrupt or partly invalid file never stops the
app: bad values fall back to defaults and ``load`` returns a notice saying so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app.server_prefs import ServerPrefs
from app.speculation_prefs import SpeculationPrefs
from engine.core import paths
from engine.core.events import LoadOptions, SamplingParams
from engine.core.limits import SAMPLING_LIMITS, Limit

log = logging.getLogger(__name__)

OVERFLOW_POLICIES = ("drop_oldest", "truncate_middle", "stop")
PROVIDERS = ("auto", "cpu", "cuda", "dml", "coreml")

# Allowed ranges; the settings widgets use the same bounds, so they refuse bad values too. The
# sampling ranges are the engine's own (engine.core.limits), so the engine accepts whatever is saved.
_SAMPLING = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "max_new_tokens", "seed")
LIMITS: dict[str, Limit] = {
    **{name: SAMPLING_LIMITS[name] for name in _SAMPLING},
    "context_length": Limit("context_length", int, 256, 131072, 4096, "tokens the model's KV cache holds"),
    "threads": Limit("threads", int, 0, 256, 0, "CPU threads (0 = automatic)"),
}
# Values outside the range that mean something: an empty seed field (random).
SPECIAL = {"seed": -1}


@dataclass(frozen=True)
class ModelSettings:
    """Everything one request needs to know. ``seed == -1`` means random, ``threads == 0`` automatic."""

    system_prompt: str = "You are a helpful assistant."
    temperature: float = 0.7
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repetition_penalty: float = 1.1
    max_new_tokens: int = 512
    seed: int = -1
    context_length: int = 4096
    overflow_policy: str = "drop_oldest"
    provider: str = "auto"
    threads: int = 0

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            min_p=self.min_p,
            repetition_penalty=self.repetition_penalty,
            seed=None if self.seed < 0 else self.seed,
            max_new_tokens=self.max_new_tokens,
        )

    def load_options(self) -> LoadOptions:
        return LoadOptions(
            provider=self.provider,  # type: ignore[arg-type]
            threads=self.threads or None,
            context_length=self.context_length,
        )


def check_value(name: str, value: Any) -> Any:
    """``value`` converted to the field's type, or ``ValueError`` if it is not allowed."""
    kinds = {f.name: f.type for f in fields(ModelSettings)}
    if name not in kinds:
        raise ValueError(f"unknown setting {name!r}")
    default = getattr(ModelSettings(), name)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{name} must be text")
        if name == "overflow_policy" and value not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow_policy must be one of {OVERFLOW_POLICIES}")
        if name == "provider" and value not in PROVIDERS:
            raise ValueError(f"provider must be one of {PROVIDERS}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number")
    # Infinity, NaN, 1e400 and 400-digit integers would overflow the conversions below.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    if name in SPECIAL and value == SPECIAL[name]:
        return type(default)(value)
    limit = LIMITS[name]
    if not limit.contains(value):
        raise ValueError(f"{name} must be {limit.phrase()}")
    if isinstance(default, int) and float(value) != int(value):
        raise ValueError(f"{name} must be a whole number")
    return type(default)(value)


def _settings_from(data: Any, base: ModelSettings, problems: list[str]) -> ModelSettings:
    if not isinstance(data, dict):
        return base
    changes = {}
    for name, value in data.items():
        try:
            changes[name] = check_value(name, value)
        except ValueError as exc:
            problems.append(str(exc))
    return replace(base, **changes)


@dataclass
class AppSettings:
    """The whole settings file."""

    defaults: ModelSettings = field(default_factory=ModelSettings)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # model name -> changed fields
    model_folders: list[str] = field(default_factory=list)  # folders added outside the models dir
    last_model: str = ""
    window: dict[str, str] = field(default_factory=dict)  # geometry and splitter state, base64
    # Named presets (system prompt plus sampling) and each chat's choice, by conversation id. They live
    # here rather than in the database, so presets need no schema change (see app/presets.py).
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    chat_presets: dict[str, str] = field(default_factory=dict)
    server: ServerPrefs = field(default_factory=ServerPrefs)  # the local server (app/server_prefs.py)
    speculation: SpeculationPrefs = field(default_factory=SpeculationPrefs)  # app/speculation_prefs.py
    show_probabilities: bool = False  # replies open in the token-probability view (app/token_view.py)

    def for_model(self, name: str | None) -> ModelSettings:
        """The defaults with ``name``'s overrides applied."""
        if not name or name not in self.overrides:
            return self.defaults
        return _settings_from(self.overrides[name], self.defaults, [])

    def set_value(self, name: str, value: Any, model: str | None = None) -> None:
        """Set one setting for everyone (``model=None``) or as an override for ``model``."""
        value = check_value(name, value)
        if model:
            self.overrides.setdefault(model, {})[name] = value
        else:
            self.defaults = replace(self.defaults, **{name: value})

    def clear_overrides(self, model: str) -> None:
        self.overrides.pop(model, None)

    def reset(self) -> None:
        """Every sampling and runtime setting back to its default (models and window stay)."""
        self.defaults = ModelSettings()
        self.overrides.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "defaults": asdict(self.defaults),
            "overrides": self.overrides,
            "model_folders": self.model_folders,
            "last_model": self.last_model,
            "window": self.window,
            "presets": self.presets,
            "chat_presets": self.chat_presets,
            "server": self.server.to_json(),
            "speculation": self.speculation.to_json(),
            "show_probabilities": self.show_probabilities,
        }


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load(path: Path | None = None) -> tuple[AppSettings, str | None]:
    """The settings, and a notice for the user if the file had to be (partly) ignored.

    Never raises: a damaged file gives the defaults (or its good values) and is copied
    aside first, since the next save replaces it.
    """
    path = path or settings_path()
    if not path.is_file():
        return AppSettings(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level is not an object")
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: deeply nested JSON
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        log.warning("ignoring settings file %s: %s", path, reason)
        return AppSettings(), (f"Your settings file could not be read ({reason}); Hearth started with the "
                               "defaults." + _keep_aside(path))
    problems: list[str] = []
    settings = _parse(data, problems)
    notice = None
    if problems:
        notice = ("Some settings were invalid and were reset to their defaults: " + "; ".join(problems[:5])
                  + "." + _keep_aside(path))
    return settings, notice


def _parse(data: dict[str, Any], problems: list[str]) -> AppSettings:
    settings = AppSettings(defaults=_settings_from(data.get("defaults"), ModelSettings(), problems))
    overrides = data.get("overrides")
    if isinstance(overrides, dict):
        for model, values in overrides.items():
            if isinstance(values, dict):
                kept = {}
                for name, value in values.items():
                    try:
                        kept[name] = check_value(name, value)
                    except ValueError as exc:
                        problems.append(f"{model}: {exc}")
                settings.overrides[str(model)] = kept
    folders = data.get("model_folders")
    if isinstance(folders, list):
        settings.model_folders = [str(f) for f in folders if isinstance(f, str)]
    if isinstance(data.get("last_model"), str):
        settings.last_model = data["last_model"]
    _parse_presets(data, settings, problems)
    settings.server = ServerPrefs.from_json(data.get("server"), problems)
    settings.speculation = SpeculationPrefs.from_json(data.get("speculation"), problems)
    if isinstance(data.get("show_probabilities"), bool):
        settings.show_probabilities = data["show_probabilities"]
    if isinstance(data.get("window"), dict):
        # Only strings: str() of a nested value is not a geometry and could recurse deeply.
        settings.window = {str(k): v for k, v in data["window"].items() if isinstance(v, str)}
        if len(settings.window) != len(data["window"]):
            problems.append("window layout")
    return settings


def _parse_presets(data: dict[str, Any], settings: AppSettings, problems: list[str]) -> None:
    from app.presets import PRESET_FIELDS

    presets = data.get("presets")
    if isinstance(presets, dict):
        for name, values in presets.items():
            if isinstance(values, dict):
                kept = {}
                for key, value in values.items():
                    try:
                        if key not in PRESET_FIELDS:
                            raise ValueError(f"{key} is not part of a preset")
                        kept[key] = check_value(key, value)
                    except ValueError as exc:
                        problems.append(f"preset {name}: {exc}")
                settings.presets[str(name)] = kept
    chosen = data.get("chat_presets")
    if isinstance(chosen, dict):
        settings.chat_presets = {str(k): v for k, v in chosen.items() if isinstance(v, str) and v in settings.presets}


def _keep_aside(path: Path) -> str:
    """Copy the damaged file next to itself with a timestamp; the notice's sentence saying where."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    try:
        shutil.copy2(path, aside)
    except OSError as exc:
        log.warning("could not keep a copy of %s: %s", path, exc)
        return ""
    return f" The old file was kept as {aside}."


def save(settings: AppSettings, path: Path | None = None) -> None:
    """Write atomically: a unique temp file, fsync, then rename over the old one.

    A reader sees the old or the new file, never half of one, and saves from several
    threads never share a temp file.
    """
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(settings.to_json(), indent=2)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a directory)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
