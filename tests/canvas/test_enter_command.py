"""``enter_canvas`` and the "Enter all profiles" task: what an operator sees, who enters."""

import io

import pytest
from django.core.management import CommandError, call_command

from audiencesync.workspaces.models import Profile
from canvas import tasks
from canvas.models import CanvasEntry, CanvasStatus, ItemState, SyncItem
from canvas.services import entries_bulk
from tests.factories import ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 2, so a handful of rows exercises the chunking."""
    monkeypatch.setattr(entries_bulk, "CHUNK_SIZE", 2)


def write_csv(tmp_path, text: str, name="users.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8-sig"))
    return str(path)


def enter(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("enter_canvas", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue()


def entered_ids(canvas) -> set[str]:
    return set(CanvasEntry.objects.filter(canvas=canvas)
               .values_list("profile__external_id", flat=True))


def test_csv_enters_its_users_in_chunks(sync_canvas, tmp_path, small_chunks):
    path = write_csv(tmp_path, "External_ID,email,phone,ad_tracking_enabled\n"
                               "a,a@example.com,+1 415 555 0123,yes\n"
                               "b,b@example.com,,\n"
                               "c,,,no\n"
                               "\n"
                               "d,d@example.com,,1\n"
                               "e,e@example.com,,true\n")

    output = enter(sync_canvas.pk, "--csv", path)

    assert "entered: 5, already_in_canvas: 0, rejected: 0" in output
    assert entered_ids(sync_canvas) == {"a", "b", "c", "d", "e"}
    states = dict(SyncItem.objects.values_list("profile__external_id", "state"))
    assert states["a"] == ItemState.PENDING and states["c"] == ItemState.NOT_SYNCED
    assert Profile.objects.get(external_id="c").ad_tracking_enabled is False

    again = enter(sync_canvas.pk, "--csv", path)
    assert "entered: 0, already_in_canvas: 5, rejected: 0" in again


def test_csv_rejects_malformed_rows_by_line_enters_the_rest_and_exits_non_zero(
    sync_canvas, tmp_path, small_chunks
):
    path = write_csv(tmp_path, "external_id,email,ad_tracking_enabled\n"
                               "good1,g1@example.com,true\n"
                               ",blank@example.com,true\n"
                               "flag,f@example.com,maybe\n"
                               "short,s@example.com\n"
                               "good1,again@example.com,true\n"
                               '"multi\nline",m@example.com,false\n'
                               "good2,g2@example.com,false\n")
    out = io.StringIO()

    with pytest.raises(CommandError, match="4 rows were rejected"):
        call_command("enter_canvas", str(sync_canvas.pk), "--csv", path, stdout=out,
                     stderr=io.StringIO())

    output = out.getvalue()
    assert "line 3: rejected: external_id: Blank" in output
    assert "line 4: rejected: ad_tracking_enabled: Is 'maybe'" in output
    assert "line 5: rejected: Has 2 columns, the header has 3." in output
    assert "line 6: rejected: external_id: The same external_id is at line 2" in output
    assert "7 rows read: entered: 3, already_in_canvas: 0, rejected: 4" in output
    assert entered_ids(sync_canvas) == {"good1", "good2", "multi\nline"}
    assert Profile.objects.get(external_id="good1").email == "g1@example.com"


def test_csv_columns_the_import_would_store_as_attributes_are_ignored_and_named(
    sync_canvas, tmp_path
):
    path = write_csv(tmp_path, "external_id,email,plan\na,a@example.com,gold\n")
    err = io.StringIO()

    call_command("enter_canvas", str(sync_canvas.pk), "--csv", path, stdout=io.StringIO(),
                 stderr=err)

    assert "Ignored columns" in err.getvalue() and "plan" in err.getvalue()
    assert Profile.objects.get(external_id="a").attributes == {}


@pytest.mark.parametrize(("text", "says"), [
    ("", "The file is empty"),
    ("email,phone\nx@example.com,\n", "external_id column"),
    ("external_id,email,EMAIL\n", "email more than once"),
])
def test_csv_without_a_usable_header_is_refused(sync_canvas, tmp_path, text, says):
    with pytest.raises(CommandError, match=says):
        enter(sync_canvas.pk, "--csv", write_csv(tmp_path, text))
    assert not CanvasEntry.objects.exists()


def test_csv_rows_that_are_not_utf8_or_open_a_quote_are_rejected_alone_and_counts_add_up(
    sync_canvas, tmp_path, small_chunks
):
    good = "".join(f"u{i},user{i}@example.com\n" for i in range(1000)).encode()
    path = tmp_path / "broken.csv"
    path.write_bytes(b"external_id,email\n" + good              # lines 1-1001
                     + b"b,caf\xe9@example.com\n"               # 1002: Latin-1
                     + b'q,"q@example.com\n'                   # 1003: a quote never closed
                     + b"after,after@example.com\n")           # 1004
    out = io.StringIO()

    with pytest.raises(CommandError, match="2 rows were rejected"):
        call_command("enter_canvas", str(sync_canvas.pk), "--csv", str(path), stdout=out,
                     stderr=io.StringIO())

    output = out.getvalue()
    assert "line 1002: rejected: Is not UTF-8 text (byte 0xE9 after 'b,caf')" in output
    assert "line 1003: rejected: Has a quote that is never closed" in output
    assert "1,003 rows read: entered: 1,001, already_in_canvas: 0, rejected: 2" in output
    assert len(entered_ids(sync_canvas)) == 1001 and "after" in entered_ids(sync_canvas)


def test_missing_file_unknown_canvas_and_inactive_canvas_are_clear_errors(sync_canvas,
                                                                           tmp_path):
    path = write_csv(tmp_path, "external_id\na\n")
    with pytest.raises(CommandError, match="Cannot read .*nope.csv"):
        enter(sync_canvas.pk, "--csv", str(tmp_path / "nope.csv"))
    with pytest.raises(CommandError, match="No canvas with id 999999"):
        enter(999999, "--csv", path)
    with pytest.raises(CommandError, match="No canvas with id 999999"):
        enter(999999, "--all-profiles")
    for status in (CanvasStatus.DRAFT, CanvasStatus.STOPPED):
        sync_canvas.status = status
        sync_canvas.save()
        with pytest.raises(CommandError, match=f"is {status.label.lower()}: only an active"):
            enter(sync_canvas.pk, "--csv", path)
        with pytest.raises(CommandError, match=f"is {status.label.lower()}: only an active"):
            enter(sync_canvas.pk, "--all-profiles")
    assert not CanvasEntry.objects.exists() and not Profile.objects.exists()


def test_a_source_is_required(sync_canvas):
    with pytest.raises(CommandError, match="--csv --all-profiles"):
        enter(sync_canvas.pk)


def test_all_profiles_enters_the_workspace_profiles_in_chunks(sync_canvas, workspace,
                                                              small_chunks):
    ProfileFactory.create_batch(5, workspace=workspace)
    ProfileFactory(workspace=WorkspaceFactory(), external_id="elsewhere")

    output = enter(sync_canvas.pk, "--all-profiles")

    assert "entered: 5, already_in_canvas: 0, rejected: 0" in output
    assert len(entered_ids(sync_canvas)) == 5 and "elsewhere" not in entered_ids(sync_canvas)
    assert SyncItem.objects.filter(state=ItemState.PENDING).count() == 5
    assert "already_in_canvas: 5" in enter(sync_canvas.pk, "--all-profiles")


def test_a_canvas_stopped_midway_ends_the_run_saying_how_far_it_got(
    sync_canvas, workspace, small_chunks, monkeypatch
):
    ProfileFactory.create_batch(5, workspace=workspace)
    real_enter = entries_bulk.canvas_enter_profiles

    def enter_then_stop(**kwargs):
        result = real_enter(**kwargs)
        sync_canvas.status = CanvasStatus.STOPPED
        sync_canvas.save()
        return result

    monkeypatch.setattr(entries_bulk, "canvas_enter_profiles", enter_then_stop)

    with pytest.raises(CommandError, match="is stopped.*Before that, 2 users were entered"):
        enter(sync_canvas.pk, "--all-profiles")
    assert CanvasEntry.objects.count() == 2


def test_enter_all_task_enters_everyone_across_successor_tasks(
    sync_canvas, workspace, small_chunks, monkeypatch, settings
):
    ProfileFactory.create_batch(5, workspace=workspace)
    enqueued = []
    monkeypatch.setattr(tasks, "async_task", lambda name, *args, **kw: enqueued.append(args))
    # No time budget: every task enters one chunk, then hands over to a successor.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 0}

    results = [tasks.enter_all_profiles(sync_canvas.pk)]
    while enqueued:
        results.append(tasks.enter_all_profiles(*enqueued.pop()))

    assert sum(r["entered"] for r in results) == 5
    assert CanvasEntry.objects.filter(canvas=sync_canvas).count() == 5


def test_enter_all_task_on_a_canvas_stopped_meanwhile_ends_quietly(sync_canvas, workspace):
    ProfileFactory(workspace=workspace)
    sync_canvas.status = CanvasStatus.STOPPED
    sync_canvas.save()

    assert "only an active canvas" in tasks.enter_all_profiles(sync_canvas.pk)
    assert not CanvasEntry.objects.exists()
