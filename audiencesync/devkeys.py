"""Local secrets for development, each made once in a file (owner-only) and shared by every
process that reads the same file."""

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet


def _file_secret(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """The secret in ``path``, made now if the file does not exist; (secret, made now)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    value = make()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value, True


def local_token_key(path: Path) -> str:
    key, made = _file_secret(path, lambda: Fernet.generate_key().decode())
    if made:
        sys.stderr.write(
            f"Created a development token-encryption key in {path}; "
            "set TOKEN_ENCRYPTION_KEYS in production.\n"
        )
    return key


def local_secret(path: Path) -> str:
    """A random token kept in ``path`` (mode 0600)."""
    return _file_secret(path, lambda: secrets.token_urlsafe(32))[0]
