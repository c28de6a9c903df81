"""RFC 9457 problem details: every error the service returns is ``application/problem+json``.

Domain exceptions are mapped to HTTP statuses here and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.store import JobStateError, StoreFullError
from cluster import ClusterUnavailableError
from forecaster import CancelledError, ForecasterError, PolicyError, RequestError

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
#: Problem types (relative URIs, explained in docs/api.md).
INVALID, OVERLOADED, CONFLICT, UNAVAILABLE = (
    "/problems/invalid-request", "/problems/overloaded", "/problems/conflict", "/problems/unavailable",
)


class Problem(Exception):
    """An error response; raise it from a route."""

    def __init__(
        self, status: int, title: str, detail: str, type_: str = "about:blank",
        headers: dict[str, str] | None = None, **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.type = status, title, detail, type_
        self.headers = headers or {}
        self.extra = extra


def invalid(field: str, message: str) -> Problem:
    """422 naming the field and the limit it broke."""
    return Problem(422, "Invalid request", f"{field}: {message}", INVALID,
                   errors=[{"field": field, "message": message}])


def _response(request: Request, problem: Problem) -> JSONResponse:
    body = {
        "type": problem.type, "title": problem.title, "status": problem.status,
        "detail": problem.detail, "instance": request.url.path, **problem.extra,
    }
    return JSONResponse(body, status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def _domain(error: ForecasterError, retry_after: int) -> Problem:
    if isinstance(error, RequestError | PolicyError):
        return invalid(error.field, error.message)
    if isinstance(error, StoreFullError):
        return Problem(503, "Service overloaded", f"{error}; retry after {retry_after} s", OVERLOADED,
                       headers={"Retry-After": str(retry_after)})
    if isinstance(error, JobStateError):
        return Problem(409, "Conflict", str(error), CONFLICT)
    if isinstance(error, ClusterUnavailableError):
        return Problem(503, "Service unavailable", str(error), UNAVAILABLE)
    if isinstance(error, CancelledError):
        return Problem(409, "Cancelled", str(error), CONFLICT)
    return Problem(400, "Bad request", str(error), INVALID)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Problem)
        return _response(request, error)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        title = {404: "Not found", 405: "Method not allowed"}.get(error.status_code, "HTTP error")
        return _response(request, Problem(error.status_code, title, str(error.detail),
                                          headers=dict(error.headers or {})))

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in error.errors()
        ]
        detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
        return _response(request, Problem(422, "Invalid request", detail, INVALID, errors=errors))

    async def on_domain(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ForecasterError)
        return _response(request, _domain(error, request.app.state.settings.retry_after_seconds))

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return _response(request, Problem(500, "Internal server error", "an unexpected error occurred"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ForecasterError, on_domain)
    app.add_exception_handler(Exception, on_unexpected)
