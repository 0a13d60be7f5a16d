"""Partner tokens at rest: MultiFernet over TOKEN_ENCRYPTION_KEYS (newest first, rotatable)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as error:
        raise ImproperlyConfigured(
            f"A TOKEN_ENCRYPTION_KEYS entry is not a Fernet key: {error}") from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode()


def decrypt(cipher: str) -> str:
    try:
        return fernet().decrypt(cipher.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored partner token cannot be decrypted with TOKEN_ENCRYPTION_KEYS "
            "(was a key removed before its tokens were rotated?)."
        ) from None


def rotate(cipher: str) -> str:
    """Re-encrypt with the newest key (after adding one in front of TOKEN_ENCRYPTION_KEYS)."""
    return fernet().rotate(cipher.encode()).decode()


class EncryptedTextField(models.TextField):
    """Text stored as Fernet ciphertext; Python code sees plain text, the database never."""

    def from_db_value(self, value, expression, connection):
        if not value:
            return ""
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value:
            return ""
        return encrypt(value)
