"""A number field that says no out loud: a bad value stays as typed, with the allowed range below it.

A spin box clamps or drops what it cannot hold (5 becomes 2, 999999 becomes 9999) without a
word. This field keeps the text, shows "Temperature must be a number between 0 and 2." under it, and
emits ``value_changed`` only for values inside the range, so nothing invalid is saved. The
message follows each keystroke; the value is emitted when editing finishes.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QLineEdit

from engine.core.limits import Limit, range_phrase


def _fmt(value: float, whole: bool) -> str:
    return f"{int(value):,}" if whole else f"{value:g}"


class NumberField(QObject):
    """``whole`` fields take integers; ``special`` is the value an empty field means (shown as its placeholder).

    Three widgets for a form: ``edit`` beside the label, and ``error`` and ``hint`` as full-width rows
    under it (so a long message wraps across the panel instead of being cut off in the field column).
    """

    value_changed = Signal(object)  # int or float, always inside the range

    def __init__(self, label: str, low: float, high: float, whole: bool, decimals: int = 2,
                 special: tuple[float, str] | None = None, parent: QObject | None = None,
                 low_inclusive: bool = True, high_inclusive: bool = True) -> None:
        super().__init__(parent)
        self.label, self.low, self.high, self.whole, self.decimals = label, low, high, whole, decimals
        self.low_inclusive, self.high_inclusive = low_inclusive, high_inclusive
        self.special = special
        self.limit_reason = ""  # why ``high`` is lower than usual (the model's maximum)
        self._value: float = low
        self.edit = QLineEdit()
        if special:
            self.edit.setPlaceholderText(special[1])
        # Checked as it is typed, saved when done (Enter or leaving the field): typing 999999 must not
        # save 9999 on the way.
        self.edit.textEdited.connect(self._on_edit_text_edited)
        self.edit.editingFinished.connect(self._on_edit_editing_finished)
        self.error = QLabel("")
        self.error.setObjectName("FieldError")
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        self.hint = QLabel("")
        self.hint.setObjectName("FieldHint")
        self.hint.setWordWrap(True)
        self.hint.setVisible(False)

    @classmethod
    def for_limit(cls, label: str, limit: Limit, decimals: int = 2,
                  special: tuple[float, str] | None = None) -> NumberField:
        """A field for one of the shared limits (``engine.core.limits``), its ends inclusive or not."""
        return cls(label, limit.low, limit.high, limit.whole, decimals, special,
                   low_inclusive=limit.low_inclusive, high_inclusive=limit.high_inclusive)

    def range_text(self) -> str:
        bounds = range_phrase(self.low, self.high, self.low_inclusive, self.high_inclusive,
                              lambda v: _fmt(v, self.whole))
        text = f"{self.label} must be {'a whole number' if self.whole else 'a number'} {bounds}"
        return text + (f" ({self.limit_reason})." if self.limit_reason else ".")

    def _inside(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        below = value <= self.high if self.high_inclusive else value < self.high
        return above and below

    def parse(self, text: str) -> float | None:
        """The value ``text`` means, or None if it is not allowed."""
        text = text.strip().replace(",", "").replace("_", "")
        if not text and self.special:
            return self.special[0]
        try:
            value = float(text)
        except ValueError:
            return None
        if not math.isfinite(value) or not self._inside(value):
            return None
        if self.whole:
            return int(value) if value == int(value) else None
        # Rounding must not carry a value onto an open end (top-p 0.001 would become 0).
        rounded = round(value, self.decimals)
        return rounded if self._inside(rounded) else None

    def _on_edit_text_edited(self, text: str) -> None:
        self.show_error("" if self.parse(text) is not None else self.range_text())

    def _on_edit_editing_finished(self) -> None:
        value = self.parse(self.edit.text())
        self.show_error("" if value is not None else self.range_text())
        if value is not None and value != self._value:
            self._value = value
            self.value_changed.emit(value)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def error_text(self) -> str:
        return self.error.text()

    def show_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.hint.setVisible(bool(text))

    # QSpinBox-like API, so the panel and tests treat every field alike.
    def value(self) -> float:
        return self._value

    def setValue(self, value: float) -> None:  # noqa: N802 - mirrors QSpinBox
        """Show ``value`` as if typed: a value outside the range is shown with its message, not clamped."""
        if self.special and value == self.special[0]:
            text = ""
        else:
            text = str(int(value)) if self.whole and float(value) == int(value) else f"{value:g}"
        self.edit.setText(text)
        self._on_edit_editing_finished()

    def show_value(self, value: float) -> None:
        """Fill in a stored value without emitting (it is already saved)."""
        self._value = value
        self.edit.setText("" if self.special and value == self.special[0] else
                          (str(int(value)) if self.whole else f"{value:g}"))
        self.show_error("")

    def setMaximum(self, high: float, reason: str = "") -> None:  # noqa: N802 - mirrors QSpinBox
        self.high, self.limit_reason = high, reason
