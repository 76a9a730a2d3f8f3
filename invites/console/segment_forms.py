"""Reading a campaign's audience conditions from its settings form, and showing them again.

The form has a "match all/any" choice and numbered rows `cond-<i>-attribute`, `-op` and
`-value` ("is one of" takes values separated by commas). Pure functions over the fields; an
empty row is no condition, a row that can't be used is an error at that row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from invites.accounts.attributes import ATTRIBUTES, Kind
from invites.campaigns import segments

#: Empty rows the form offers below the conditions there are.
SPARE_ROWS = 2


@dataclass(frozen=True)
class Row:
    """One condition row as the form shows it."""

    attribute: str = ""
    op: str = ""
    value: str = ""


@dataclass(frozen=True)
class Conditions:
    """What the form shows: all or any, and its rows (spares included)."""

    match: str
    rows: tuple[Row, ...]


def _padded(match: str, rows: list[Row]) -> Conditions:
    wanted = min(max(len(rows) + SPARE_ROWS, 3), segments.MAX_CONDITIONS)
    rows = rows[: segments.MAX_CONDITIONS]
    return Conditions(match, tuple(rows + [Row()] * (wanted - len(rows))))


def shown(segment: segments.Segment) -> Conditions:
    """A stored segment as form rows."""
    rows = [Row(c.attribute, str(c.op), ", ".join(c.values)) for c in segment.conditions]
    return _padded(segment.match, rows)


def typed(form: Mapping[str, str]) -> Conditions:
    """The rows as typed (to show again after an error or a count)."""
    rows = [
        Row(
            form.get(f"cond-{i}-attribute", ""),
            form.get(f"cond-{i}-op", ""),
            form.get(f"cond-{i}-value", "").replace("\x00", ""),
        )
        for i in range(segments.MAX_CONDITIONS)
    ]
    while rows and not (rows[-1].attribute or rows[-1].value.strip()):
        rows.pop()
    return _padded("any" if form.get("match") == "any" else "all", rows)


def segment_form(form: Mapping[str, str]) -> tuple[segments.Segment, dict[str, str]]:
    """The segment the form describes, and a message per row that can't be used
    (`cond-<i>`), or for the whole (`segment`)."""
    errors: dict[str, str] = {}
    found: list[segments.Condition] = []
    match = form.get("match", "all")
    if match not in ("all", "any"):
        errors["segment"] = "Choose whether all or any of the conditions must hold."
    for i in range(segments.MAX_CONDITIONS):
        attribute = form.get(f"cond-{i}-attribute", "")
        op = form.get(f"cond-{i}-op", "") or "equals"
        value = form.get(f"cond-{i}-value", "").replace("\x00", "")
        if not attribute:
            if value.strip():
                errors[f"cond-{i}"] = "Choose the attribute this value is for."
            continue
        values = [v.strip() for v in value.split(",")] if op == "one_of" else [value]
        try:
            found.append(segments.condition(attribute, op, values))
        except segments.SegmentError as exc:
            message = str(exc)
            errors[f"cond-{i}"] = message[0].upper() + message[1:] + "."
    return segments.Segment("any" if match == "any" else "all", tuple(found)), errors


def attribute_choices() -> list[tuple[str, str, str]]:
    """(name, label, hint) of every declared attribute, for the form's select and help."""
    out = []
    for a in ATTRIBUTES.values():
        if a.kind == Kind.CHOICE:
            hint = " / ".join(a.choices)
        elif a.kind == Kind.DATE:
            hint = "a date, YYYY-MM-DD"
        elif a.pattern is not None:
            hint = a.pattern_says
        else:
            hint = str(a.kind)
        out.append((a.name, a.label, hint))
    return out
