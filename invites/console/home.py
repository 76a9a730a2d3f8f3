"""The console's home page: what the signed-in role may use."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    """List the console's sections this staff member's role may open."""
    return render_template("console/home.html")
