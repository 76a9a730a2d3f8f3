"""A campaign's segment: conditions on contact attributes, and the one SQL that applies them.

A segment is a list of conditions (equals, one of, before, after, exists) on attributes of the
register (invites.accounts.attributes), combined with all or any. It is stored on the campaign
as JSON (part of its version: editing it voids an approval) and saved segments are named
copies to start from. `clause` is the only place a segment becomes SQL: the planner's audience
(count, zones, planning) and the sender's send-time check both call it, so an attribute that
changes after planning is judged again when the contact's message is due.

Counts of a segmented audience below SMALL_COUNT are shown as "fewer than 5": a handful of
narrow conditions must not tell whether one particular person holds an attribute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, exists, literal, or_, select

from invites.accounts.attributes import ATTRIBUTES, Kind
from invites.accounts.models import Contact, ContactAttribute

#: Counts of a segmented audience under this are shown as "fewer than SMALL_COUNT".
SMALL_COUNT = 5
#: The most conditions one segment holds (a form shows this many rows at most).
MAX_CONDITIONS = 10


class Op(StrEnum):
    """How a condition compares an attribute."""

    EQUALS = "equals"
    ONE_OF = "one_of"
    BEFORE = "before"
    AFTER = "after"
    EXISTS = "exists"


OP_LABELS = {
    Op.EQUALS: "is",
    Op.ONE_OF: "is one of",
    Op.BEFORE: "is before / below",
    Op.AFTER: "is after / above",
    Op.EXISTS: "is known",
}
#: Attribute kinds that have an order.
ORDERED = (Kind.DATE, Kind.NUMBER)


class SegmentError(ValueError):
    """A condition that can't be used; `index` is its row (None: the segment as a whole)."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class Condition:
    """One condition: attribute, operator and (canonical) values."""

    attribute: str
    op: Op
    values: tuple[str, ...] = ()

    def describe(self) -> str:
        """The condition in words, for the page and the audit log."""
        declared = ATTRIBUTES[self.attribute]
        if self.op == Op.EXISTS:
            return f"{declared.label} is known"
        words = OP_LABELS[self.op]
        if self.op in (Op.BEFORE, Op.AFTER):
            # "is before / below" offers both in the form; a condition is one or the other.
            words = words.split(" / ")[0 if declared.kind == Kind.DATE else 1]
            words = words if words.startswith("is ") else f"is {words}"
        return f"{declared.label} {words} {', '.join(self.values)}"


@dataclass(frozen=True)
class Segment:
    """Conditions combined with all (every one holds) or any (at least one holds)."""

    match: str = "all"
    conditions: tuple[Condition, ...] = ()

    def to_json(self) -> str | None:
        """What the campaign stores (None: no conditions)."""
        if not self.conditions:
            return None
        rows = [
            {"attribute": c.attribute, "op": str(c.op), "values": list(c.values)}
            for c in self.conditions
        ]
        return json.dumps({"match": self.match, "conditions": rows}, sort_keys=True)

    def describe(self) -> str:
        """The segment in words ("" for none)."""
        joiner = " and " if self.match == "all" else " or "
        return joiner.join(c.describe() for c in self.conditions)


def condition(attribute: str, op: str, values: list[str] | tuple[str, ...] = ()) -> Condition:
    """A checked condition (values canonical, as stored), or SegmentError saying why."""
    declared = ATTRIBUTES.get(attribute)
    if declared is None:
        raise SegmentError(f"there is no attribute {attribute!r}")
    try:
        which = Op(op)
    except ValueError:
        raise SegmentError(f"choose how to compare {declared.label}") from None
    if which == Op.EXISTS:
        return Condition(attribute, which)
    if which in (Op.BEFORE, Op.AFTER) and declared.kind not in ORDERED:
        raise SegmentError(f"{declared.label} has no order: use “is” or “is one of”")
    wanted = [v for v in values if v.strip()]
    if not wanted:
        raise SegmentError(f"give a value for {declared.label}")
    if which != Op.ONE_OF and len(wanted) > 1:
        raise SegmentError(f"give one value for {declared.label}, or use “is one of”")
    checked = []
    for value in wanted:
        try:
            checked.append(declared.parse_text(value))
        except ValueError as exc:
            raise SegmentError(f"{declared.label} {exc}") from None
    return Condition(attribute, which, tuple(dict.fromkeys(checked)))


def load(stored: str | None) -> Segment:
    """The segment a campaign (or saved segment) stores; none for an empty one."""
    if not stored:
        return Segment()
    raw = json.loads(stored)
    found = tuple(
        condition(row["attribute"], row["op"], row.get("values", []))
        for row in raw.get("conditions", [])
    )
    return Segment("any" if raw.get("match") == "any" else "all", found)


def _one(c: Condition) -> Any:
    row = [ContactAttribute.contact_id == Contact.id, ContactAttribute.name == c.attribute]
    numeric = ATTRIBUTES[c.attribute].kind == Kind.NUMBER
    if c.op == Op.EQUALS:
        row.append(ContactAttribute.value == c.values[0])
    elif c.op == Op.ONE_OF:
        row.append(ContactAttribute.value.in_(c.values))
    elif c.op in (Op.BEFORE, Op.AFTER):
        # ISO dates order as text; numbers by the numeric column stored beside them.
        column = ContactAttribute.number if numeric else ContactAttribute.value
        bound: Any = float(c.values[0]) if numeric else c.values[0]
        row.append(column < bound if c.op == Op.BEFORE else column > bound)
    return exists(select(ContactAttribute.contact_id).where(*row))


def clause(segment: Segment | str | None) -> Any:
    """The condition on Contact that a segment (or its stored JSON) sets; true for none.

    The one place a segment becomes SQL: planning, counting and the send-time check use it.
    """
    if not isinstance(segment, Segment):
        segment = load(segment)
    if not segment.conditions:
        return literal(True)
    parts = [_one(c) for c in segment.conditions]
    return and_(*parts) if segment.match == "all" else or_(*parts)


def shown(count: int, segmented: bool) -> str:
    """A count as the console shows it: small counts of a segmented audience are blurred."""
    if segmented and count < SMALL_COUNT:
        return f"fewer than {SMALL_COUNT}"
    return str(count)
