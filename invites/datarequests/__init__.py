"""Data requests: a person sees, corrects or erases what is held about their address, after a
link mailed to that address confirms who they are. Nothing here knows HTTP.

A product area beside campaigns (it reads every area's tables to show and erase them):
`flow` starts, opens and closes requests, `holdings` gathers what is held, `erasure` erases
it (the API's account deletion uses the same code), `mail` is the link's kind of message.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the request link and address-confirmation mail with the delivery engine."""
    from invites.datarequests import models  # noqa: F401 - its tables belong to the metadata
    from invites.datarequests.mail import AddressChangeMail, DataRequestMail
    from invites.delivery import kinds

    kinds.register(DataRequestMail())
    kinds.register(AddressChangeMail())
