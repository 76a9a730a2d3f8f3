"""Development only: browse the local outbox that stands in for SMTP."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, abort, current_app, render_template

from mailer import list_outbox, read_outbox
from mailer.preview import links_in_new_tab

bp = Blueprint("dev", __name__, url_prefix="/dev")


@bp.get("/outbox")
def outbox() -> str:
    """List the messages written to the local outbox, newest first."""
    directory = current_app.config["OUTBOX_PATH"]
    return render_template("dev/outbox.html", entries=list_outbox(directory), directory=directory)


@bp.get("/outbox/<entry_id>")
def message(entry_id: str) -> str:
    """Show one message: HTML (sandboxed frame), text and headers."""
    found = read_outbox(current_app.config["OUTBOX_PATH"], entry_id)
    if found is None:
        abort(404, "No such message in the outbox.")
    return render_template("dev/message.html", m=found, html=_links_in_new_tab(found.html))


@bp.get("/outbox/<entry_id>.eml")
def raw(entry_id: str) -> Response:
    """Return the message exactly as it would have been sent."""
    found = read_outbox(current_app.config["OUTBOX_PATH"], entry_id)
    if found is None:
        abort(404, "No such message in the outbox.")
    return Response(found.raw, mimetype="message/rfc822")


def _links_in_new_tab(html: str | None) -> str | None:
    return None if html is None else links_in_new_tab(html)


def init_app(app: Flask) -> None:
    """Register the outbox pages (only when mail goes to the local outbox)."""
    app.register_blueprint(bp)
