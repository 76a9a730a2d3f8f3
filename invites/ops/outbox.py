"""Development only: browse the local outbox that stands in for SMTP."""

from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, abort, current_app, render_template

from mailer import list_outbox, read_outbox

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


_HEAD = re.compile(r"<head[^>]*>", re.IGNORECASE)


def _links_in_new_tab(html: str | None) -> str | None:
    """The HTML part with its links aimed at a new tab.

    Inside the sandboxed frame a link would open the site within the frame, where its forms
    can't submit: the removal button silently did nothing. A base target sends every link to
    a tab of its own, as a mail client does.
    """
    if html is None:
        return None
    base = '<base target="_blank">'
    found = _HEAD.search(html)
    return html[: found.end()] + base + html[found.end() :] if found else base + html


def init_app(app: Flask) -> None:
    """Register the outbox pages (only when mail goes to the local outbox)."""
    app.register_blueprint(bp)
