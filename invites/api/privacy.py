"""The record of processing (GDPR art. 30) as JSON, produced from the processing register."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from pydantic import BaseModel, Field

from invites.api import spec
from invites.api.auth import public
from invites.api.schemas import respond
from invites.core.config import Settings
from invites.privacy import register

bp = Blueprint("api_privacy", __name__, url_prefix="/api/v1/privacy")


class HoldingOut(BaseModel):
    """Columns of one table that a purpose holds."""

    table: str
    columns: list[str]
    description: str


class PeopleOut(BaseModel):
    """A category of people the data is about."""

    name: str
    description: str


class RetentionOut(BaseModel):
    """How long one part of the data is kept, and what erases it."""

    name: str
    rule: str = Field(description="The rule in words, with the period under current settings.")
    period_seconds: int | None = Field(
        description="The period under current settings; null when kept until an event."
    )
    setting: str | None = Field(description="The environment variable the period comes from.")
    erased_by: str | None = Field(description="The job that erases what is past the period.")
    every_seconds: int | None = Field(description="How often the scheduler runs that job.")


class PurposeOut(BaseModel):
    """One purpose of processing."""

    name: str
    title: str
    description: str
    data: list[HoldingOut]
    data_subjects: list[PeopleOut]
    legal_basis: str
    retention: list[RetentionOut]
    recipients: list[str] = Field(description="Names of entries in `recipients`.")
    note: str | None


class RecipientOut(BaseModel):
    """Who receives personal data, and in which role."""

    name: str
    role: str
    title: str
    description: str


class NotPersonalOut(BaseModel):
    """Columns that hold no personal data, and why."""

    table: str
    columns: list[str]
    why: str


class ProcessingRecord(BaseModel):
    """The record of processing activities (GDPR art. 30), produced from the code."""

    controller: str
    purposes: list[PurposeOut]
    recipients: list[RecipientOut]
    security_measures: list[str]
    not_personal: list[NotPersonalOut]


def _retention(rule: register.Retention, settings: Settings) -> RetentionOut:
    span = rule.period(settings) if rule.period else None
    return RetentionOut(
        name=rule.name,
        rule=rule.describe(settings, "en"),
        period_seconds=int(span.total_seconds()) if span is not None else None,
        setting=rule.setting,
        erased_by=rule.job,
        every_seconds=rule.every_seconds,
    )


def record(settings: Settings) -> ProcessingRecord:
    """The art. 30 record under these settings, in English."""
    return ProcessingRecord(
        controller="SpotCam",
        purposes=[
            PurposeOut(
                name=p.name,
                title=p.title["en"],
                description=p.description["en"],
                data=[
                    HoldingOut(table=h.table, columns=list(h.columns), description=h.what["en"])
                    for h in p.data
                ],
                data_subjects=[
                    PeopleOut(name=n, description=register.PEOPLE[n]["en"]) for n in p.people
                ],
                legal_basis=p.legal_basis["en"],
                retention=[_retention(r, settings) for r in p.retention],
                recipients=list(p.recipients),
                note=p.note["en"] if p.note else None,
            )
            for p in register.purposes()
        ],
        recipients=[
            RecipientOut(name=r.name, role=r.role, title=r.title["en"], description=r.what["en"])
            for r in register.RECIPIENTS.values()
        ],
        security_measures=[measure["en"] for measure in register.SECURITY],
        not_personal=[
            NotPersonalOut(table=table, columns=list(columns), why=why)
            for table, (why, columns) in register.NOT_PERSONAL.items()
        ],
    )


@bp.get("/processing")
@public
def processing() -> Response:
    """Return the record of processing (public, like the page at /privacy/processing)."""
    return respond(record(current_app.config["SETTINGS"]))


MODELS = [ProcessingRecord]
PATHS = {
    "/api/v1/privacy/processing": {
        "get": {
            "summary": "The record of processing activities, GDPR art. 30 (public)",
            "description": "Every purpose the service holds personal data for: the tables and "
            "columns, the people concerned, the legal basis, how long each part is kept "
            "(under the running settings) and which job erases it, and who receives it. "
            "Produced from the processing register in the code; /privacy/processing shows "
            "the same as a page.",
            "security": [],
            "responses": {"200": spec.json_response(ProcessingRecord, "The record")},
        }
    }
}
