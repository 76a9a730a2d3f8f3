"""How big a console form may be, and what happens to one that is bigger.

The API's MAX_BODY_BYTES (16 KiB) is sized for JSON calls, not for campaign content: a form
URL-encodes each Cyrillic letter as 6 bytes and each CJK one as 9, so the 100,000-character
source the editor promises for a body (and as much again for a text part) needs up to
1.8 MB. Console requests get FORM_BYTES instead, set as soon as a request is routed to the
console and before anything (the CSRF check) reads the form.

A form larger than that is not simply refused with a bare 413, losing what was typed: its
first FORM_BYTES are read and parsed, the field they end in kept as far as it came, and the
view that can use what arrived (the content editor) shows it again with the reason at that
field. Nothing of such a form is ever saved; any other console form answers the console's
413 page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from flask import abort, g, request
from werkzeug.datastructures import ImmutableMultiDict

from invites.console.access import bp

#: Two 100,000-character parts in the script that grows most when URL-encoded (CJK: 9 bytes
#: a character), the short fields, and room to spare.
FORM_BYTES = 2 * 1024 * 1024
#: What is read and dropped of a form past FORM_BYTES, so the connection can be reused.
DRAIN_BYTES = 64 * 1024 * 1024
_CUT = "console_form_cut"
_HANDLES_CUT = "console_handles_cut_form"


@dataclass(frozen=True)
class FormCut:
    """A form that was larger than FORM_BYTES: the field it was cut in and its size."""

    field: str | None
    size: int

    def message(self) -> str:
        """Why the form wasn't saved, for the person who sent it."""
        mb = FORM_BYTES // (1024 * 1024)
        return (
            f"the form was {self.size / 1_000_000:.1f} MB, more than the console takes "
            f"({mb} MB), so nothing was saved; it was cut here, and what followed was lost"
        )


def handles_cut_form(view: Any) -> Any:
    """Mark a view that shows a too-large form again itself (others answer 413)."""
    setattr(view, _HANDLES_CUT, True)
    return view


def cut_form() -> FormCut | None:
    """The too-large form this request carried, if it did."""
    found: FormCut | None = g.get(_CUT)
    return found


@bp.url_value_preprocessor
def _limit(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Set the console's own body limits before any hook reads the form."""
    request.max_content_length = FORM_BYTES
    request.max_form_memory_size = FORM_BYTES
    size = request.content_length
    if (
        request.method == "POST"
        and size is not None
        and size > FORM_BYTES
        and request.mimetype == "application/x-www-form-urlencoded"
        and _CUT not in g  # a retry after a dead connection runs the hooks again
    ):
        _read_cut(size)


def _read_cut(size: int) -> None:
    stream = request.environ["wsgi.input"]
    head = stream.read(FORM_BYTES)
    left = size - len(head)
    while 0 < left <= DRAIN_BYTES:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        left -= len(chunk)
    pairs, last = _parse_head(head)
    request.form = ImmutableMultiDict(pairs)
    g.setdefault(_CUT, FormCut(last, size))


def _parse_head(head: bytes) -> tuple[list[tuple[str, str]], str | None]:
    """The complete fields of a URL-encoded form's head, and the cut last one as far as it
    came (an escape or a character cut in two is dropped); the cut field's name."""
    whole, _, rest = head.rpartition(b"&")
    pairs = parse_qsl(whole.decode("ascii", "replace"), keep_blank_values=True)
    name_raw, eq, value_raw = rest.partition(b"=")
    if not eq:
        return pairs, None  # cut inside a name: nothing of that field is usable
    value_raw = value_raw.replace(b"+", b" ")
    cut = value_raw.rfind(b"%")
    if cut >= len(value_raw) - 2:
        value_raw = value_raw[:cut] if cut >= 0 else value_raw
    name = unquote_to_bytes(name_raw).decode("utf-8", "replace")
    value = unquote_to_bytes(value_raw).decode("utf-8", "ignore")
    pairs.append((name, value))
    return pairs, name


@bp.before_request
def _refuse_cut() -> None:
    """Answer a too-large form with the console's 413 page unless its view shows it again."""
    found = cut_form()
    if found is None:
        return
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, _HANDLES_CUT, False):
        abort(413, description=f"Not saved: {found.message()}. Go back: your browser has kept it.")
