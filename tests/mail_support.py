"""Links out of the mails the product sent (django.core.mail.outbox in tests)."""

import re
from urllib.parse import urlsplit

from tests.factories import PASSWORD


def link_in(message, path_prefix: str) -> str:
    """The path of the one link in the mail whose path starts with path_prefix."""
    paths = [urlsplit(url).path for url in re.findall(r"https?://\S+", message.body)]
    [path] = [p for p in paths if p.startswith(path_prefix)]
    return path


def last_mail_to(outbox, email: str):
    return [m for m in outbox if email in m.to][-1]


def confirmation_link(outbox, email: str) -> str:
    return link_in(last_mail_to(outbox, email), "/accounts/confirm-email/")


def invitation_link(outbox, email: str) -> str:
    return link_in(last_mail_to(outbox, email), "/invitations/")


def sign_up(client, email: str, **extra):
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        **extra,
    )


def sign_up_and_verify(client, outbox, email: str):
    """Sign up, then follow the verification mail's link, which logs the person in."""
    sign_up(client, email)
    link = confirmation_link(outbox, email)
    return client.post(link, follow=True)


def log_in(client, email: str, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": email, "password": password}, follow=True)
