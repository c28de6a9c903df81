"""Named exceptions of the forecasting domain.

Every error names the offending field (and economy, where there is one) and
the allowed range, so that the HTTP layer can pass the message on unchanged.
"""

from __future__ import annotations


class ForecasterError(Exception):
    """Base class of every error raised by :mod:`forecaster`."""


class PolicyError(ForecasterError, ValueError):
    """A policy mix is invalid.

    Parameters
    ----------
    field : str
        Dotted path of the offending field, e.g. ``"levers.digital.intensity"``.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


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
        self.economy = economy
        self.field = field
        where = f"economy {economy!r}, field {field!r}" if economy else f"field {field!r}"
        super().__init__(f"calibration {where}: {message}")


class RequestError(ForecasterError, ValueError):
    """A forecast request (draws, horizon, economies, quantiles, ...) is invalid.

    Parameters
    ----------
    field : str
        Name of the offending request field.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class CancelledError(ForecasterError):
    """A forecast was cancelled before it finished."""
