"""A local token-encryption key for development, made once and shared by every process."""

import os
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def local_token_key(path: Path) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    sys.stderr.write(
        f"Created a development token-encryption key in {path}; "
        "set TOKEN_ENCRYPTION_KEYS in production.\n"
    )
    return key
