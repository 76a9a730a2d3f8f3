"""Words on the privacy pages (the processing register and the policy archive), per language.

What the register says about each purpose lives in the register itself
(`invites.privacy.register`); this is only the page around it.
"""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "language": "Language",
        "processing_title": "How SpotCam Mail processes personal data",
        "processing_lead": "This is the service's record of processing (GDPR art. 30), shown "
        "from the same register in its code that decides how long data is kept. Each purpose "
        "says what is held, about whom, on which legal basis, for how long, and who receives "
        "it.",
        "controller": "Controller",
        "what": "What is held",
        "people": "About whom",
        "legal_basis": "Legal basis",
        "retention": "How long",
        "recipients": "Who receives it",
        "security": "How it is kept safe",
        "json": "The same record as JSON",
        "policy_link": "The privacy policy",
        "policy_title": "Privacy policy",
        "version": "Version {label}",
        "in force": "In force since {day}",
        "upcoming": "Takes effect on {day}",
        "superseded": "In force from {day} until {until}",
        "superseded_open": "In force from {day}",
        "placeholder_note": "This is the version that was in force when the archive began; "
        "its text predates the archive.",
        "not_current": "This is not the version in force. The version in force is {label}.",
        "upcoming_note": "This version is not in force yet. Until {day} the version in force "
        "is {label}.",
        "changed": "What changed in this version",
        "material": "This is a material change to the policy.",
        "partner": "It changes how partner offers work: partner offers stop for anyone who "
        "consented under an earlier version, until they consent again.",
        "previous": "The previous version: {label}",
        "all_versions": "Every version of the policy",
        "versions_title": "Every version of the privacy policy",
        "versions_lead": "Each version stays readable here, for good, in every language.",
        "effective": "Takes effect",
        "state": "State",
        "summary": "What changed",
        "state_in force": "in force",
        "state_upcoming": "upcoming",
        "state_superseded": "superseded",
        "no_version_title": "No such policy version",
        "no_version_body": "No published version of the privacy policy is labelled “{label}”.",
        "none_in_force": "No version of the policy is in force yet.",
    },
    "ru": {
        "language": "Язык",
        "processing_title": "Как SpotCam Mail обрабатывает персональные данные",
        "processing_lead": "Это реестр обработки сервиса (GDPR ст. 30), показанный из того "
        "же реестра в его коде, который определяет, сколько хранятся данные. Для каждой цели "
        "указано, что хранится, о ком, на каком законном основании, как долго и кто это "
        "получает.",
        "controller": "Оператор",
        "what": "Что хранится",
        "people": "О ком",
        "legal_basis": "Законное основание",
        "retention": "Как долго",
        "recipients": "Кто получает",
        "security": "Как данные защищены",
        "json": "Тот же реестр в формате JSON",
        "policy_link": "Политика конфиденциальности",
        "policy_title": "Политика конфиденциальности",
        "version": "Версия {label}",
        "in force": "Действует с {day}",
        "upcoming": "Вступает в силу {day}",
        "superseded": "Действовала с {day} по {until}",
        "superseded_open": "Действовала с {day}",
        "placeholder_note": "Это версия, действовавшая в начале архива; её текст старше архива.",
        "not_current": "Это не действующая версия. Действующая версия — {label}.",
        "upcoming_note": "Эта версия ещё не вступила в силу. До {day} действует версия {label}.",
        "changed": "Что изменилось в этой версии",
        "material": "Это существенное изменение политики.",
        "partner": "Меняет работу с предложениями партнёров: они прекращаются для всех, кто "
        "дал согласие при прежней версии, пока человек не даст согласие снова.",
        "previous": "Предыдущая версия: {label}",
        "all_versions": "Все версии политики",
        "versions_title": "Все версии политики конфиденциальности",
        "versions_lead": "Каждая версия остаётся доступной здесь навсегда, на всех языках.",
        "effective": "Вступает в силу",
        "state": "Статус",
        "summary": "Что изменилось",
        "state_in force": "действует",
        "state_upcoming": "скоро вступит в силу",
        "state_superseded": "заменена",
        "no_version_title": "Такой версии нет",
        "no_version_body": "Опубликованной версии политики с обозначением «{label}» нет.",
        "none_in_force": "Ни одна версия политики ещё не действует.",
    },
}
