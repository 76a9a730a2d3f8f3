"""The invitee's story: invite, receive the one email, accept or remove through its links."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import Flask

from ..support.helpers import all_database_text, auth, invite, link_to, new_key, run_jobs
from ..support.smtpd import SMTPSink

ADDRESS = "Olga.Friend@Example.COM"


def test_invite_accept_erases_address(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["invitations", "stats"])
    resp = invite(client, key, ADDRESS, inviter_name="Anna K.", note="Join me!", locale="en")
    assert resp.status_code == 202
    assert resp.get_json() == {"status": "accepted"}

    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    msg = mail.message
    assert mail.rcpt_tos == ["Olga.Friend@example.com"]
    assert msg["Subject"] == "Anna K. invited you to SpotCam"
    assert msg["From"] == "SpotCam <no-reply@spotcam.example>"
    assert msg["Message-ID"].endswith("@spotcam.example>")
    assert msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    # RFC 8058: exactly one of each header, an https URI, and it is the body's removal link.
    assert len(msg.get_all("List-Unsubscribe", [])) == 1
    assert msg.get_all("List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    unsubscribe = msg["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("https://mail.spotcam.test/r/")
    assert unsubscribe in (mail.text or "")
    assert f'href="{unsubscribe}"' in (mail.html or "")
    for part in (mail.text or "", mail.html or ""):
        assert "Join me!" in part
        assert "30 days" in part  # how long the address is kept
        assert "never use it for marketing" in part
    assert 'style="' in (mail.html or "")  # CSS was inlined
    assert ADDRESS.lower() not in unsubscribe.lower()

    accept_path = link_to(mail, "/i/")
    page = client.get(accept_path)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Anna K. invited you to join SpotCam." in body
    token = accept_path.removeprefix("/i/")
    signup = [line for line in body.split('"') if line.startswith("https://app.spotcam.test")]
    assert parse_qs(urlsplit(signup[0].replace("&amp;", "&")).query)["invitation"] == [token]
    # GET changed nothing: the address is still held until the app reports the sign-up.
    assert "Olga.Friend@example.com" in all_database_text(smtp_app)

    done = client.post(
        "/api/v1/invitations/accept", json={"token": token, "user_id": "new-7"}, headers=auth(key)
    )
    assert done.status_code == 200
    assert done.get_json() == {"status": "accepted"}
    stored = all_database_text(smtp_app)
    assert "olga.friend" not in stored.lower()
    assert "Join me!" not in stored and "Anna K." not in stored

    again = client.post(
        "/api/v1/invitations/accept", json={"token": token, "user_id": "new-7"}, headers=auth(key)
    )
    assert again.get_json() == {"status": "already_accepted"}
    other = client.post(
        "/api/v1/invitations/accept", json={"token": token, "user_id": "new-8"}, headers=auth(key)
    )
    assert other.status_code == 409
    assert client.get(accept_path).status_code == 410

    stats = client.get("/api/v1/inviters/user-1/stats", headers=auth(key)).get_json()
    assert stats == {"inviter_id": "user-1", "invited": 1, "accepted": 1}
    # Already a user: a new invitation answers the same and sends nothing.
    assert invite(client, key, ADDRESS, inviter_id="someone-else").status_code == 202
    run_jobs(smtp_app)
    assert len(smtp_sink.messages) == 1


def test_remove_via_page(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["invitations"])
    invite(client, key, ADDRESS, note="hello there")
    invite(client, key, "other@example.com")
    run_jobs(smtp_app)
    mails = smtp_sink.wait_for(2)
    mail = next(m for m in mails if m.rcpt_tos == ["Olga.Friend@example.com"])
    removal = link_to(mail, "/r/")

    for method in (client.get, client.head):
        assert method(removal).status_code == 200
    assert "Olga.Friend@example.com" in all_database_text(smtp_app)
    page = client.get(removal).get_data(as_text=True)
    assert 'method="post"' in page and "Remove my address" in page

    # A POST without the confirmation field (a scanner, a stray request) changes nothing.
    assert client.post(removal).status_code == 400
    assert "Olga.Friend@example.com" in all_database_text(smtp_app)

    done = client.post(removal, data={"confirm": "remove"})
    # Redirected to a page that only shows: reloading it can't post the form again.
    assert done.status_code == 303 and done.headers["Location"] == removal + "/done"
    assert "Your address has been removed" in client.get(removal + "/done").get_data(as_text=True)
    stored = all_database_text(smtp_app)
    assert "olga.friend" not in stored.lower()
    assert "hello there" not in stored
    assert "other@example.com" in stored  # only that address was removed

    again = client.post(removal, data={"confirm": "remove"})
    assert again.status_code == 303  # idempotent: the same answer
    assert "already been removed" in client.get(removal).get_data(as_text=True)

    # A new invitation to the removed address, from anyone, answers the same and sends nothing.
    resp = invite(client, key, "olga.friend@example.com", inviter_id="user-99")
    assert resp.status_code == 202 and resp.get_json() == {"status": "accepted"}
    run_jobs(smtp_app)
    assert len(smtp_sink.messages) == 2


def test_one_click_post(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    key = new_key(smtp_app, ["invitations"])
    invite(client, key, ADDRESS)
    run_jobs(smtp_app)
    [mail] = smtp_sink.wait_for(1)
    path = urlsplit(mail.message["List-Unsubscribe"].strip("<>")).path

    # Form-urlencoded, no cookie, no CSRF token, no auth: 200 and no redirect.
    resp = client.post(
        path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert resp.status_code == 200
    assert "Location" not in resp.headers
    assert resp.get_data(as_text=True) == "Removed.\n"
    assert "olga.friend" not in all_database_text(smtp_app).lower()
    # Multipart works too, and a repeat is harmless.
    again = client.post(
        path, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert again.status_code == 200 and again.get_data(as_text=True) == "Already removed.\n"


def test_removal_before_sending_cancels_the_email(app: Flask) -> None:
    from invites.core.db import db
    from invites.core.mail import tokens
    from invites.delivery.models import OutboundMessage
    from invites.invitations.models import Invitation

    client = app.test_client()
    key = new_key(app, ["invitations"])
    invite(client, key, ADDRESS)
    with app.app_context():
        public_id = db.session.scalars(db.select(Invitation.public_id)).one()
        token = tokens().make("remove", public_id)
    assert client.post(f"/r/{token}", data={"confirm": "remove"}).status_code == 303
    run_jobs(app)
    with app.app_context():
        assert db.session.scalars(db.select(OutboundMessage.status)).all() == ["cancelled"]
