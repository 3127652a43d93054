"""Errors a person should read. Each class carries a message they can act on.

Programmer mistakes stay ``ValueError`` / ``TypeError``; everything raised for bad
input, bad files or a bad environment is an ``EngineError`` subclass.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class for every error Hearth shows to a user."""


class ModelLoadError(EngineError):
    """A model folder exists but cannot be opened (corrupt file, missing part)."""


class UnsupportedModelError(EngineError):
    """The model is valid but uses something Hearth cannot drive."""


class ContextOverflowError(EngineError):
    """The prompt does not fit the context and the policy says stop."""


class InvalidSamplingError(EngineError, ValueError):
    """A sampling setting is out of range; the message names it."""


class DocumentError(EngineError):
    """A document could not be turned into text."""


class ConversionError(EngineError):
    """A checkpoint could not be converted into a Hearth model folder."""


class MissingExtraError(EngineError):
    """An optional feature needs packages that are not installed."""


class ChatTemplateError(EngineError):
    """The model's chat template failed, tried to escape its sandbox, or ran past its limits."""
