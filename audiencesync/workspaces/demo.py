"""The local demo login that `bin/run` prints at start."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from audiencesync.accounts.services import user_email_mark_verified

from .models import Membership, Role, Workspace

DEMO_EMAIL = "demo@audiencesync.local"


def demo_login_ensure() -> tuple[str, str]:
    """Create (once) the demo user and workspace; returns (email, password)."""
    password_file = Path(settings.VAR_DIR) / "demo-login.txt"
    if password_file.exists():
        password = password_file.read_text().strip()
    else:
        password = secrets.token_urlsafe(9)
        password_file.write_text(password + "\n")
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
