"""Errors as JSON problem details on the API and readable pages everywhere else."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from invites.core.error_text import page_text
from invites.core.locale import pick_locale

log = logging.getLogger(__name__)

PROBLEM_TYPE = "https://spotcam.example/problems/"


class ApiProblem(Exception):
    """An API error carried to the problem+json handler."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.slug = slug or title.lower().replace(" ", "-")
        self.errors, self.headers = errors, headers or {}


def invalid(
    field: str, message: str, detail: str = "One or more fields are invalid."
) -> ApiProblem:
    """The 422 problem naming one invalid field."""
    return invalid_fields([{"field": field, "message": message}], detail)


def invalid_fields(
    errors: list[dict[str, str]], detail: str = "One or more fields are invalid."
) -> ApiProblem:
    """The 422 problem naming each invalid field: the one shape every validation error has."""
    return ApiProblem(422, "Invalid request", detail, slug="validation", errors=errors)


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build an application/problem+json response (RFC 9457)."""
    body: dict[str, Any] = {"type": PROBLEM_TYPE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def _wants_problem() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    """Register error handlers for the API and the pages."""

    @app.errorhandler(ApiProblem)
    def handle_problem(exc: ApiProblem) -> Response:
        """Render an API problem."""
        return problem_response(
            exc.status, exc.title, exc.detail, slug=exc.slug, errors=exc.errors, headers=exc.headers
        )

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException) -> Any:
        """Render an HTTP error as problem+json on the API or a page elsewhere."""
        status = exc.code or 500
        title = exc.name
        if _wants_problem():
            detail = exc.description
            if status == 413:
                # An endpoint may set its own limit (request.max_content_length).
                detail = f"The request body is larger than {request.max_content_length} bytes."
            headers = dict(exc.get_response().headers) if status in (405,) else None
            allow = {"Allow": headers["Allow"]} if headers and "Allow" in headers else None
            return problem_response(
                status, title, detail, slug=title.lower().replace(" ", "-"), headers=allow
            )
        locale = pick_locale(None)
        title, message, footnote = page_text(status, locale)
        page = render_template(
            "error.html",
            status=status,
            title=title,
            message=message,
            footnote=footnote,
            locale=locale,
        )
        # Allow (405) and Retry-After (429, 503) are part of the answer, page or not.
        kept = exc.get_response().headers
        headers = {name: kept[name] for name in ("Allow", "Retry-After") if name in kept}
        return page, status, headers

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Any:
        """Log an unexpected error and answer 500 without leaking details."""
        log.exception("unhandled error on %s %s", request.method, request.path)
        return handle_http(InternalServerError())
