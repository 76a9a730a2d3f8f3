"""Error pages are the site's own, in the visitor's language; the API answers problems."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.mark.parametrize(
    "language, title, footnote",
    [
        ("en", "Page not found", "Error 404. Nothing was changed."),
        ("ru", "Страница не найдена", "Ошибка 404. Ничего не изменено."),
    ],
)
def test_a_missing_page_speaks_the_visitors_language(
    client: FlaskClient,
    language: str,
    title: str,
    footnote: str,
) -> None:
    resp = client.get("/no/such/page", headers={"Accept-Language": f"{language},en;q=0.5"})

    body = resp.get_data(as_text=True)
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in body and footnote in body
    assert f'lang="{language}"' in body
    assert "The requested URL was not found on the server" not in body  # Werkzeug's text


def test_a_wrong_method_gets_a_page_not_werkzeugs_text(client: FlaskClient) -> None:
    resp = client.put("/", headers={"Accept-Language": "ru"})

    assert resp.status_code == 405
    assert "<h1>Так нельзя</h1>" in resp.get_data(as_text=True)
    assert "Allow" in resp.headers


def test_a_crash_gets_a_page_that_says_nothing_changed(app: Flask) -> None:
    def boom() -> str:
        raise RuntimeError("a bug")

    app.add_url_rule("/boom", "boom", boom)
    resp = app.test_client().get("/boom", headers={"Accept-Language": "en"})

    body = resp.get_data(as_text=True)
    assert resp.status_code == 500 and "<h1>Something went wrong</h1>" in body
    assert "a bug" not in body and "Traceback" not in body


def test_the_api_still_answers_problem_json(client: FlaskClient) -> None:
    resp = client.get("/api/v1/nothing-here")

    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
