"""RFC 9457 problem details: every error the service returns is ``application/problem+json``.

Domain exceptions are mapped to HTTP statuses here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from api.schema import field_errors
from forecaster import FieldError, ForecasterError

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
#: Problem types (relative URIs, explained in docs/api.md).
INVALID, CONFLICT, UNAVAILABLE = "/problems/invalid-request", "/problems/conflict", "/problems/unavailable"


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


#: Title of each kind of problem a domain error names (``ForecasterError.problem``).
TITLES = {
    "invalid-request": "Invalid request", "overloaded": "Service overloaded", "conflict": "Conflict",
    "unavailable": "Service unavailable", "insufficient-storage": "Insufficient storage",
    "damaged-results": "Damaged results",
}


def _domain(error: ForecasterError, retry_after: int) -> Problem:
    """Return the problem a domain error answers with: its class gives the status and kind."""
    if isinstance(error, FieldError):
        return invalid(error.field, error.message)
    detail, headers = str(error), {}
    if error.retry_later:
        detail, headers = f"{detail}; retry after {retry_after} s", {"Retry-After": str(retry_after)}
    title = "Bad request" if error.http_status == 400 else TITLES[error.problem]
    return Problem(error.http_status, title, detail, f"/problems/{error.problem}", headers)


class ProblemDocument(BaseModel):
    """An RFC 9457 problem: the body of every error response."""

    type: str = Field(description="problem type; about:blank or one of /problems/*")
    title: str
    status: int
    detail: str = Field(description="what went wrong; for 422 it names the field and the limit")
    instance: str = Field(description="the request path")
    errors: list[dict[str, str]] | None = Field(None, description="for 422: each field and its message")


def _document_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """Wrap ``app.openapi`` so every 4xx/5xx answer is documented as ``application/problem+json``."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        reference = {"$ref": "#/components/schemas/ProblemDocument"}
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                # 400: a body that is not even UTF-8 is refused before validation (bad JSON: 422).
                for status in ("400", "413", "422", "500", "503") if "requestBody" in operation else ("500",):
                    responses.setdefault(status, {"description": HTTPStatus(int(status)).phrase})
                for status, response in responses.items():
                    if status[0] in "45":
                        response["content"] = {MEDIA_TYPE: {"schema": reference}}
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ProblemDocument"] = ProblemDocument.model_json_schema()
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document, and document them."""
    app.openapi = _document_errors(app)  # type: ignore[method-assign]

    async def on_problem(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Problem)
        return _response(request, error)

    async def on_http(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        title = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}.get(
            error.status_code, "HTTP error"
        )
        return _response(request, Problem(error.status_code, title, str(error.detail),
                                          headers=dict(error.headers or {})))

    async def on_validation(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = [{"field": field, "message": message} for field, message in field_errors(error.errors())]
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
