"""API keys moved from canvas to workspaces: an installation upgraded from before the move
keeps its keys, and they still authenticate."""

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audiencesync.workspaces.apikeys import api_key_authenticate
from canvas.models import IdempotentResponse

BEFORE_THE_MOVE = [("workspaces", "0004_invitation_links_and_last_used_workspace"),
                   ("canvas", "0004_idempotency_key_up_to_255_characters")]
SECRET = "as_" + "k" * 43


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


@pytest.fixture
def schema_restored(transactional_db):
    """Whatever a test migrates to, the next test finds the schema of today."""
    yield
    _migrate(_latest())


def test_a_key_made_before_the_move_still_authenticates_after_it(schema_restored):
    old = _migrate(BEFORE_THE_MOVE)
    workspace = old.get_model("workspaces", "Workspace").objects.create(name="Acme", slug="acme")
    old_key = old.get_model("canvas", "ApiKey").objects.create(
        workspace=workspace, name="CRM", prefix=SECRET[:10],
        key_hash=hashlib.sha256(SECRET.encode()).hexdigest())
    old.get_model("canvas", "IdempotentResponse").objects.create(
        api_key=old_key, key="first-call", status=200, body={"entered": 1})
    _migrate(_latest())

    assert "workspaces_apikey" in connection.introspection.table_names()
    assert "canvas_apikey" not in connection.introspection.table_names()
    api_key = api_key_authenticate(authorization=f"Bearer {SECRET}")
    assert (api_key.pk, api_key.name, api_key.workspace.slug) == (old_key.pk, "CRM", "acme")
    assert IdempotentResponse.objects.get(key="first-call").api_key == api_key


def test_the_move_can_be_undone_with_the_keys_kept(schema_restored):
    new = _migrate(_latest())
    workspace = new.get_model("workspaces", "Workspace").objects.create(name="Acme", slug="acme")
    new.get_model("workspaces", "ApiKey").objects.create(
        workspace=workspace, name="CRM", prefix=SECRET[:10],
        key_hash=hashlib.sha256(SECRET.encode()).hexdigest())
    old = _migrate(BEFORE_THE_MOVE)
    assert list(old.get_model("canvas", "ApiKey").objects.values_list("name", flat=True)) == ["CRM"]
    _migrate(_latest())
    assert api_key_authenticate(authorization=f"Bearer {SECRET}").name == "CRM"
