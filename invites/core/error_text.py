"""What an error page says, in each language pages speak (not Werkzeug's stock English)."""

from __future__ import annotations

#: status → locale → (title, what to do).
PAGES: dict[int, dict[str, tuple[str, str]]] = {
    400: {
        "en": ("This request didn't work", "Something in it was missing or malformed."),
        "ru": ("Запрос не удался", "В нём чего-то не хватает или что-то искажено."),
    },
    403: {
        "en": ("Not allowed", "Your account may not open this page."),
        "ru": ("Нет доступа", "Вашей учётной записи эта страница недоступна."),
    },
    404: {
        "en": ("Page not found", "The address may be mistyped, or the page is gone."),
        "ru": ("Страница не найдена", "Возможно, адрес набран с ошибкой или страницы больше нет."),
    },
    405: {
        "en": ("Not like this", "This page can't be used this way. Open it from its link."),
        "ru": ("Так нельзя", "Эту страницу нельзя открыть таким способом. Откройте её по ссылке."),
    },
    410: {
        "en": ("This is no longer here", "It has expired or was removed."),
        "ru": ("Этого больше нет", "Срок действия истёк, или это удалено."),
    },
    413: {
        "en": ("Too much at once", "What was sent is larger than this page accepts."),
        "ru": ("Слишком много сразу", "Отправлено больше, чем принимает эта страница."),
    },
    429: {
        "en": ("Too many tries", "Please wait a little and try again."),
        "ru": ("Слишком много попыток", "Подождите немного и попробуйте снова."),
    },
    500: {
        "en": ("Something went wrong", "It's our fault, and we've noted it. Please try later."),
        "ru": ("Что-то пошло не так", "Это наша ошибка, мы её записали. Попробуйте позже."),
    },
}
#: The line under every error page.
NOTHING_CHANGED = {
    "en": "Error {status}. Nothing was changed.",
    "ru": "Ошибка {status}. Ничего не изменено.",
}


def page_text(status: int, locale: str) -> tuple[str, str, str]:
    """(title, message, footnote) for an error page."""
    known = PAGES.get(status) or PAGES[500 if status >= 500 else 400]
    title, message = known.get(locale, known["en"])
    return title, message, NOTHING_CHANGED.get(locale, NOTHING_CHANGED["en"]).format(status=status)
