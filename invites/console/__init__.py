"""The staff console under /console: a staff session, roles on every route, CSRF on every form.

Public API for the parts of the product that add console pages:

- `bp`: the parent blueprint. Add a child blueprint to CHILDREN (and its page to SECTIONS);
  it inherits the sign-in check, the role check, the error pages and the private headers.
- `requires_role(Role.ADMIN)`: the roles a view allows (default: every role).
- `current_staff()`: the signed-in StaffUser; `audit_action(...)`: record what they did.
- `format_time(dt, zone)` and the `localtime` template filter: times in the viewer's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask
from flask_login import current_user

from invites.console import (
    account,
    api_keys,
    audit_log,
    auth,
    campaigns,
    campaigns_actions,
    campaigns_edit,
    campaigns_preview,
    campaigns_results,
    campaigns_segments,
    errors,
    forms,
    home,
    policies,
    privacy_requests,
    reset,
    staff_users,
)
from invites.console.access import (
    audit_action,
    bp,
    client_ip,
    current_staff,
    may_open,
    public,
    requires_role,
)
from invites.console.display import (
    category_name,
    detail_value,
    duration,
    format_time,
    language_name,
    localtime,
)
from invites.staff import users

__all__ = [
    "CHILDREN",
    "SECTIONS",
    "Section",
    "audit_action",
    "bp",
    "client_ip",
    "current_staff",
    "format_time",
    "may_open",
    "public",
    "requires_role",
]


@dataclass(frozen=True)
class Section:
    """A console page listed on the home page and in the nav bar."""

    title: str
    endpoint: str
    description: str


#: Child blueprints and their paths under /console. Campaign pages add theirs here.
CHILDREN: tuple[tuple[Blueprint, str], ...] = (
    (home.bp, ""),
    (auth.bp, ""),
    (account.bp, "/account"),
    (reset.bp, "/reset"),
    (campaigns.bp, "/campaigns"),
    (staff_users.bp, "/users"),
    (api_keys.bp, "/api-keys"),
    (audit_log.bp, "/audit"),
    (policies.bp, "/policies"),
    (privacy_requests.bp, "/privacy"),
)

#: What the home page and the nav bar list, in order; each is shown only to the roles its
#: endpoint's view allows, so a section's roles are written once, on the view.
SECTIONS: tuple[Section, ...] = (
    Section("Campaigns", "console.campaigns.index", "Write, test, send and follow campaigns."),
    Section("Staff users", "console.staff_users.index", "Who may sign in, and with which role."),
    Section("API keys", "console.api_keys.index", "Keys the app backend calls the API with."),
    Section("Audit log", "console.audit_log.index", "Who did what in the console, and when."),
    Section(
        "Privacy policy",
        "console.policies.index",
        "Versions of the privacy policy: write, publish, and the public archive.",
    ),
    Section(
        "Data requests",
        "console.privacy_requests.index",
        "Start a data request for someone who wrote in, stop marketing to an address, follow "
        "requests.",
    ),
)

# The campaign pages' other modules add their routes to campaigns.bp when imported; errors
# and forms add their hooks to bp.
_CAMPAIGN_PAGES = (
    campaigns_actions,
    campaigns_edit,
    campaigns_preview,
    campaigns_results,
    campaigns_segments,
)
_HOOKS = (errors, forms)

for _child, _prefix in CHILDREN:
    bp.register_blueprint(_child, url_prefix=_prefix or None)

bp.add_app_template_filter(localtime, "localtime")
bp.add_app_template_filter(category_name, "category_name")
bp.add_app_template_filter(language_name, "language_name")
bp.add_app_template_filter(duration, "duration")
bp.add_app_template_filter(detail_value, "detail_value")
bp.add_app_template_filter(users.named, "staff_named")


@bp.context_processor
def _navigation() -> dict[str, Any]:
    """Give every console template the signed-in user and the sections they may open."""
    if errors.plain():
        return {"staff": None, "sections": []}  # an error page that mustn't need the database
    user = current_user if current_user.is_authenticated else None
    sections = [s for s in SECTIONS if user is not None and may_open(s.endpoint, user)]
    return {"staff": user, "sections": sections}


def init_app(app: Flask) -> None:
    """Register the console: Flask-Login and the route group."""
    auth.init_app(app)
    app.register_blueprint(bp)
