"""`manage.py check --deploy`: logins need mail, so production must say where it goes."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

CONSOLE_BACKENDS = {"django.core.mail.backends.console.EmailBackend",
                    "django.core.mail.backends.dummy.EmailBackend"}


@register(Tags.security, deploy=True)
def mail_is_delivered(app_configs, **kwargs):
    if settings.DEBUG or settings.EMAIL_BACKEND not in CONSOLE_BACKENDS:
        return []
    return [Warning(
        "EMAIL_URL is not set: verification and invitation emails are printed to the log "
        "instead of sent, so nobody can sign up or accept an invitation.",
        hint="Set EMAIL_URL, e.g. smtp+tls://user:password@mail.example.com:587.",
        id="accounts.W001",
    )]
