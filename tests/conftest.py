import pytest

from tests.factories import MembershipFactory, Role

# The live partners and their sandbox, for every test that names them.
pytest_plugins = ["tests.e2e_support"]


@pytest.fixture
def owner(db):
    return MembershipFactory(role=Role.OWNER)


@pytest.fixture
def workspace(owner):
    return owner.workspace


def _login(client, membership):
    client.force_login(membership.user)
    session = client.session
    session["workspace_id"] = membership.workspace_id
    session.save()
    return client


@pytest.fixture
def owner_client(client, owner):
    return _login(client, owner)


@pytest.fixture
def login():
    """login(client, membership) logs the member in with that workspace current."""
    return _login


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real hashing costs a second per login created; tests do not need its strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_login_rate_limits(settings):
    """allauth keeps its rate limits in the cache, which on Redis outlives a test (and a run):
    one test's sign-up would hold back the next one's verification mail for minutes."""
    settings.ACCOUNT_RATE_LIMITS = False
