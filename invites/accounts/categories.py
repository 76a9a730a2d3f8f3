"""Email categories, declared once: what each is, its legal basis, and its default.

Adding a category is one entry here; the API, the preference centre, the send path and the
README table all read this register.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One kind of email a contact may receive."""

    name: str
    title: dict[str, str]
    description: dict[str, str]
    legal_basis: str
    #: service mail can't be turned off; opt-in categories need a recorded consent.
    can_opt_out: bool
    opt_in_only: bool
    #: A consent given under a privacy-policy version older than a version that changes
    #: partner sharing (once in force) no longer counts: the person is asked again.
    reconsent_on_sharing_change: bool = False

    def default(self, promotional_default: bool) -> bool:
        """Whether a contact who never chose receives this category."""
        if not self.can_opt_out:
            return True
        if self.opt_in_only:
            return False
        return promotional_default


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category(
            name="service",
            title={"en": "Service email", "ru": "Служебные письма"},
            description={
                "en": "About your account, its security and changes to our privacy policy. "
                "Always on while you have an account.",
                "ru": "Об аккаунте, его безопасности и изменениях политики "
                "конфиденциальности. Приходят, пока у вас есть аккаунт.",
            },
            legal_basis="contract (GDPR art. 6(1)(b)) and legal obligation (art. 6(1)(c))",
            can_opt_out=False,
            opt_in_only=False,
        ),
        Category(
            name="promotional",
            title={"en": "SpotCam news and offers", "ru": "Новости и предложения SpotCam"},
            description={
                "en": "New features, tips and offers from SpotCam itself.",
                "ru": "Новые функции, советы и предложения от самого SpotCam.",
            },
            legal_basis="legitimate interest with opt-out (ePrivacy art. 13(2) soft opt-in)",
            can_opt_out=True,
            opt_in_only=False,
        ),
        Category(
            name="partner_offers",
            title={"en": "Partner offers", "ru": "Предложения партнёров"},
            description={
                "en": "Offers SpotCam sends on behalf of partner companies. We never share "
                "your address with them. Only with your consent.",
                "ru": "Предложения, которые SpotCam отправляет от имени партнёров. Мы не "
                "передаём им ваш адрес. Только с вашего согласия.",
            },
            legal_basis="consent (GDPR art. 6(1)(a); ePrivacy art. 13(1))",
            can_opt_out=True,
            opt_in_only=True,
            reconsent_on_sharing_change=True,
        ),
    )
}

#: Categories a person can switch (everything but service).
MARKETING = tuple(name for name, c in CATEGORIES.items() if c.can_opt_out)
#: Where a consent change can come from.
SOURCES = ("app", "api", "preference_page", "one_click", "support", "complaint")
