"""The demo login that bin/run prints: development mode only, its password file readable by
its owner only."""

import pytest

from audiencesync.errors import ServiceError
from audiencesync.workspaces.demo import DEMO_EMAIL, demo_login_ensure


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # as bin/run's .env has it (pytest-django runs tests with False)
    return tmp_path


def test_the_demo_password_file_is_readable_by_its_owner_only(db, var_dir, client):
    email, password = demo_login_ensure()

    password_file = var_dir / "demo-login.txt"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert password_file.read_text().strip() == password
    assert client.login(email=email, password=password)


def test_a_password_file_left_readable_by_all_is_made_private(db, var_dir):
    password_file = var_dir / "demo-login.txt"
    password_file.write_text("an-older-password\n")
    password_file.chmod(0o644)

    assert demo_login_ensure()[1] == "an-older-password"
    assert password_file.stat().st_mode & 0o777 == 0o600


def test_production_has_no_demo_login(db, var_dir, settings, django_user_model):
    settings.DEBUG = False
    with pytest.raises(ServiceError, match="development mode only"):
        demo_login_ensure()
    assert not django_user_model.objects.filter(email=DEMO_EMAIL).exists()
    assert not (var_dir / "demo-login.txt").exists()
