"""Words on the public pages, in each supported language."""

from __future__ import annotations

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "brand": "SpotCam",
        "index_title": "SpotCam Mail",
        "index_body": "This service sends SpotCam invitations and account email. "
        "If you received an invitation, its links bring you to the right page.",
        "accept_title": "You're invited to SpotCam",
        "accept_lead": "{name} invited you to join SpotCam.",
        "accept_note": "Their note",
        "accept_button": "Join SpotCam",
        "accept_privacy": "We keep your address only to send this one invitation and to link "
        "your account if you join. We erase it when you join, when you remove it, or after "
        "the invitation ends.",
        "accept_remove": "Don't want this? Remove my address",
        "closed_title": "This invitation is no longer open",
        "closed_body": "It was accepted, removed, or it has ended. Nothing more will be sent.",
        "remove_title": "Remove your address",
        "remove_body": "Someone invited you to SpotCam by email. If you remove your address, we "
        "erase it from every invitation we hold and keep only a one-way code so that nobody can "
        "invite it again.",
        "remove_button": "Remove my address",
        "remove_confirm_missing": "Please use the button below to confirm.",
        "remove_already": "Your address has already been removed. You don't need to do anything.",
        "done_title": "Your address has been removed",
        "done_body": "We erased it from our invitations. You will not receive invitations from "
        "SpotCam again.",
        "done_already_title": "Already removed",
        "done_already_body": "Your address had already been removed. Nothing else is held.",
        "link_invalid_title": "This link doesn't work",
        "link_invalid_body": "The link is incomplete or was changed. Please open it again from "
        "the email, or copy the whole address into your browser.",
        "link_expired_title": "This link has expired",
        "link_expired_body": "The link is too old to use. Nothing was changed.",
        "error_body": "Something went wrong. Nothing was changed.",
        "about_title": "About this email",
        "about_body": "SpotCam sent a message to this address because it was asked for here, "
        "for example to confirm a request about your data. There is no SpotCam account for "
        "this address.",
        "about_kept": "We keep the address only until that one message has been sent; then it "
        "is erased. We don't use it for anything else, and we don't share it.",
        "about_ignore": "If you didn't expect it, you can ignore it: nothing more will follow.",
    },
    "ru": {
        "brand": "SpotCam",
        "index_title": "SpotCam Mail",
        "index_body": "Этот сервис отправляет приглашения SpotCam и служебные письма. "
        "Ссылки из письма приведут вас на нужную страницу.",
        "accept_title": "Вас пригласили в SpotCam",
        "accept_lead": "{name} приглашает вас в SpotCam.",
        "accept_note": "Сообщение",
        "accept_button": "Присоединиться к SpotCam",
        "accept_privacy": "Мы храним ваш адрес только для отправки этого приглашения и для "
        "связи с аккаунтом, если вы зарегистрируетесь. Мы удалим его после регистрации, по "
        "вашей просьбе или когда приглашение закончится.",
        "accept_remove": "Не хотите? Удалить мой адрес",
        "closed_title": "Приглашение больше не действует",
        "closed_body": "Оно принято, удалено или его срок истёк. Больше писем не будет.",
        "remove_title": "Удаление адреса",
        "remove_body": "Кто-то пригласил вас в SpotCam по электронной почте. Если вы удалите "
        "адрес, мы сотрём его из всех приглашений и сохраним только односторонний код, чтобы "
        "никто не смог пригласить вас снова.",
        "remove_button": "Удалить мой адрес",
        "remove_confirm_missing": "Подтвердите удаление кнопкой ниже.",
        "remove_already": "Ваш адрес уже удалён. Ничего делать не нужно.",
        "done_title": "Ваш адрес удалён",
        "done_body": "Мы стёрли его из приглашений. Вы больше не получите приглашений SpotCam.",
        "done_already_title": "Адрес уже удалён",
        "done_already_body": "Ваш адрес был удалён ранее. Мы больше ничего не храним.",
        "link_invalid_title": "Ссылка не работает",
        "link_invalid_body": "Ссылка неполная или изменена. Откройте её из письма ещё раз.",
        "link_expired_title": "Срок действия ссылки истёк",
        "link_expired_body": "Ссылка устарела. Ничего не изменено.",
        "error_body": "Что-то пошло не так. Ничего не изменено.",
        "about_title": "Об этом письме",
        "about_body": "SpotCam отправил письмо на этот адрес, потому что его запросили — "
        "например, чтобы подтвердить запрос о ваших данных. Аккаунта SpotCam у этого адреса "
        "нет.",
        "about_kept": "Мы храним адрес, только пока это письмо не отправлено, затем стираем его. "
        "Мы не используем его ни для чего другого и никому не передаём.",
        "about_ignore": "Если вы его не ждали, просто не обращайте внимания: больше писем "
        "не будет.",
    },
}
