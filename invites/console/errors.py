"""The console's error pages: every error, expected or not, as a console page.

An unexpected error must never reach the web server, whose bare "Internal Server Error" tells
a marketer nothing; nor may drawing the error page depend on what failed. So the page for an
unexpected error is drawn "plain": without the signed-in user's name and menu, which would
need the database that may be what failed.
"""

from __future__ import annotations

import logging

from flask import g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, InternalServerError

from invites.console.access import bp
from invites.core.db import db

log = logging.getLogger(__name__)
#: Set on `g` while an error page is drawn without the user (see `plain`).
PLAIN = "console_plain_page"


def plain() -> bool:
    """Whether the page being drawn must not look up the signed-in user."""
    return bool(g.get(PLAIN))


def error_page(status: int, title: str, message: str, *, without_user: bool = False) -> str:
    """The console's error page; `without_user` for an error the database may be behind
    (the page then says nothing about whether anything changed: the message does)."""
    if without_user:
        g.setdefault(PLAIN, True)
    return render_template(
        "console/error.html", status=status, title=title, message=message, unsure=without_user
    )


@bp.errorhandler(CSRFError)
def _csrf(exc: CSRFError) -> tuple[str, int]:
    """Refuse a form that came without a valid CSRF token, saying what to do."""
    message = (
        "This form was not accepted: it has expired or did not come from the console. "
        "Go back, reload the page and try again."
    )
    return error_page(400, "Form not accepted", message), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """Show any other HTTP error as a console page."""
    status = exc.code or 500
    if isinstance(exc, InternalServerError) and exc.original_exception is not None:
        return _unexpected(exc.original_exception)
    return error_page(status, exc.name, exc.description or "", without_user=status >= 500), status


@bp.errorhandler(Exception)
def _unexpected(exc: BaseException) -> tuple[str, int, dict[str, str]]:
    """Log an error nobody expected and answer with the console's own page, saying whether
    anything may have been saved."""
    log.error("unexpected error on console %s %s", request.method, request.path, exc_info=exc)
    committed = bool(g.get("spotcam_commit_attempted"))
    try:
        db.session.rollback()
    except SQLAlchemyError:
        log.warning("could not roll back after the error", exc_info=True)
    db.session.remove()
    if committed:
        after = "If you were saving something, reload the page to see whether it was saved."
    else:
        after = "Nothing was saved."
    if isinstance(exc, DBAPIError):
        message = f"The console can't reach its database just now. {after} Try again shortly."
        page = error_page(503, "Database unavailable", message, without_user=True)
        return page, 503, {"Retry-After": "10"}
    message = f"Something went wrong on our side, and it has been logged. {after}"
    return error_page(500, "Something went wrong", message, without_user=True), 500, {}
