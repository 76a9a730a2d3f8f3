"""Words on the preference centre, in each supported language.

Category titles and descriptions live in the categories register; this is only the page around
them. One-click answers are plain text for mail clients, not people, so they stay in English.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Email preferences",
        "lead": "Choose which email SpotCam sends you.",
        "lead_named": "Hi {name}, choose which email SpotCam sends you.",
        "always_on": "Always on",
        "this_email": "This email",
        "save": "Save choices",
        "unsubscribe_all": "Unsubscribe from all marketing",
        "saved": "Saved. Your choices apply from now on.",
        "unsubscribed_all": "Done. You will get no more marketing email from SpotCam. "
        "Service email about your account still arrives.",
        "suppressed_notice": "You unsubscribed from all marketing email. Tick a category and "
        "save if you want it again.",
        "csrf_expired": "This form expired, so nothing was changed. Please check your choices "
        "and save again.",
        "footnote": "We record each choice with its time and the privacy-policy version in "
        "force, so we can show what you agreed to. Service email stops only when you delete "
        "your account.",
        "chosen_under": "Chosen on {day} under privacy policy",
        "voided": "Off since {day}: version {label} of our privacy policy changed how partner "
        "offers work, so the consent you gave under an earlier version no longer counts. Tick "
        "it and save to consent again under the new version.",
        "policy_in_force": "Privacy policy in force:",
        "gone_title": "Nothing is held any more",
        "gone_body": "The account this link belongs to has been deleted, together with its "
        "address and preferences. SpotCam will not email it again. There is nothing to change.",
    },
    "ru": {
        "title": "Настройки рассылок",
        "lead": "Выберите, какие письма SpotCam будет вам присылать.",
        "lead_named": "{name}, выберите, какие письма SpotCam будет вам присылать.",
        "always_on": "Всегда включены",
        "this_email": "Это письмо",
        "save": "Сохранить",
        "unsubscribe_all": "Отписаться от всех рассылок",
        "saved": "Сохранено. Ваш выбор действует с этой минуты.",
        "unsubscribed_all": "Готово. Рекламных писем от SpotCam больше не будет. Служебные "
        "письма об аккаунте по-прежнему приходят.",
        "suppressed_notice": "Вы отписались от всех рассылок. Отметьте категорию и сохраните, "
        "если хотите снова получать её.",
        "csrf_expired": "Срок действия формы истёк, ничего не изменено. Проверьте выбор и "
        "сохраните ещё раз.",
        "footnote": "Мы записываем каждое решение со временем и действующей версией политики "
        "конфиденциальности, чтобы показать, на что вы согласились. Служебные письма "
        "прекращаются только после удаления аккаунта.",
        "chosen_under": "Выбрано {day} при политике конфиденциальности",
        "voided": "Отключено с {day}: версия {label} нашей политики конфиденциальности "
        "изменила работу с предложениями партнёров, поэтому согласие, данное при прежней "
        "версии, больше не действует. Отметьте категорию и сохраните, чтобы дать согласие "
        "снова.",
        "policy_in_force": "Действующая политика конфиденциальности:",
        "gone_title": "Мы больше ничего не храним",
        "gone_body": "Аккаунт, к которому относится ссылка, удалён вместе с адресом и "
        "настройками. SpotCam больше не будет писать на него. Менять нечего.",
    },
}
