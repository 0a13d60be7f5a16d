"""The local demo login that `bin/run` prints at start, in development mode only."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from audiencesync.accounts.services import user_email_mark_verified
from audiencesync.errors import ServiceError

from .models import Membership, Role, Workspace

DEMO_EMAIL = "demo@audiencesync.local"


def demo_login_ensure() -> tuple[str, str]:
    """Create (once) the demo user and workspace; returns (email, password)."""
    if not settings.DEBUG:
        raise ServiceError("The demo login exists in development mode only (DEBUG=true).")
    password_file = Path(settings.VAR_DIR) / "demo-login.txt"
    if password_file.exists():
        password_file.chmod(0o600)  # made readable by all before this was fixed
        password = password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(9)
        # Owner-only from the start: the password opens a superuser account.
        fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
    user_model = get_user_model()
    with transaction.atomic():
        user = user_model.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = user_model.objects.create_user(DEMO_EMAIL, password, is_staff=True,
                                                  is_superuser=True)
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        user_email_mark_verified(user=user)
        workspace, _ = Workspace.objects.get_or_create(
            slug="demo", defaults={"name": "Demo workspace", "created_by": user}
        )
        Membership.objects.get_or_create(workspace=workspace, user=user,
                                         defaults={"role": Role.OWNER})
    return DEMO_EMAIL, password


def demo_login_exists() -> bool:
    return get_user_model().objects.filter(email=DEMO_EMAIL).exists()
