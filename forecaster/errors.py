"""Named exceptions of the forecasting domain.

Every error names the offending field (and economy, where there is one) and
the allowed range, so that the HTTP layer can pass the message on unchanged.
"""

from __future__ import annotations

from typing import ClassVar

#: Longest message and field path an error keeps: a bad value echoed back is cut to a short
#: prefix, so that a megabyte of input never becomes a megabyte of error.
MAX_MESSAGE_CHARACTERS = 300
MAX_FIELD_CHARACTERS = 100


def bounded(text: str, limit: int = MAX_MESSAGE_CHARACTERS) -> str:
    """Return ``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class ForecasterError(Exception):
    """Base class of every error raised by :mod:`forecaster` (and by the service around it).

    Each class says how the edges report it, so that neither keeps a chain of
    ``isinstance`` checks: the HTTP status and problem kind the service answers
    with, whether trying again later may succeed (the service then sends
    Retry-After), and the exit code of the command line.
    """

    http_status: ClassVar[int] = 400
    problem: ClassVar[str] = "invalid-request"
    retry_later: ClassVar[bool] = False
    exit_code: ClassVar[int] = 2


class FieldError(ForecasterError, ValueError):
    """An input field is invalid.

    Parameters
    ----------
    field : str
        Dotted path of the offending field, e.g. ``"policy.digital.intensity"``.
    message : str
        What is wrong and what is allowed.
    """

    http_status = 422

    def __init__(self, field: str, message: str) -> None:
        self.field = bounded(field, MAX_FIELD_CHARACTERS)
        self.message = bounded(message)
        super().__init__(f"{self.field}: {self.message}")


class PolicyError(FieldError):
    """A policy mix is invalid (see :class:`FieldError`)."""


class CalibrationError(ForecasterError, ValueError):
    """A calibration file is invalid.

    Parameters
    ----------
    economy : str or None
        Code of the offending economy, or ``None`` for file-level problems.
    field : str
        Name of the offending field.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, economy: str | None, field: str, message: str) -> None:
        self.economy = economy if economy is None else bounded(str(economy), MAX_FIELD_CHARACTERS)
        self.field = bounded(field, MAX_FIELD_CHARACTERS)
        where = f"economy {self.economy!r}, field {self.field!r}" if economy else f"field {self.field!r}"
        super().__init__(f"calibration {where}: {bounded(message)}")


class RequestError(FieldError):
    """A forecast request (draws, horizon, economies, quantiles, ...) is invalid (see :class:`FieldError`)."""


class CancelledError(ForecasterError):
    """A forecast was cancelled before it finished."""

    http_status, problem = 409, "conflict"
