import hashlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiencesync.errors import ServiceError
from audiencesync.workspaces import imports
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.models import Profile
from tests.factories import ProfileFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def workspace(db):
    """A workspace alone: the import needs no member (nor the slow password hashing)."""
    return WorkspaceFactory()

IDFA = "6D92078A-8246-4BA4-AE5B-76104861E7DC"
GAID = "38400000-8cf0-11bd-b23e-10b96e40000d"


def _import(workspace, text: str, **options):
    return profiles_import(workspace=workspace, csv_file=io.BytesIO(text.encode()), **options)


def _profiles(workspace):
    return {p.external_id: p for p in Profile.objects.filter(workspace=workspace)}


def test_good_rows_are_stored_as_given_and_normalised_with_other_columns_as_attributes(
        workspace):
    report = _import(workspace, (
        "external_id,Email,phone,idfa,gaid,ad_tracking_enabled,plan,city\n"
        f"u1, Ana.Silva+shop@Example.COM ,(415) 555-0123,{IDFA},{GAID},No,pro,Tokyo\n"
        "u2,bo@example.com,,,,,free,\n"
    ))
    assert (report.rows_read, report.created, report.updated) == (2, 2, 0)
    assert report.rejected == [] and report.warnings == []
    ana, bo = _profiles(workspace)["u1"], _profiles(workspace)["u2"]
    # As given, trimmed (as the entries API stores it); the normalised value beside it.
    assert ana.email == "Ana.Silva+shop@Example.COM"
    assert ana.email_normalized == "ana.silva+shop@example.com"
    assert ana.email_sha256 == hashlib.sha256(b"ana.silva+shop@example.com").hexdigest()
    assert ana.phone == "(415) 555-0123"
    assert ana.phone_normalized == "+14155550123"  # the workspace's default country is US
    assert ana.idfa == IDFA and ana.idfa_normalized == IDFA.lower()
    assert ana.gaid_normalized == GAID
    assert ana.ad_tracking_enabled is False
    assert ana.attributes == {"plan": "pro", "city": "Tokyo"}
    # Empty ad_tracking_enabled means tracking is on; empty attribute cells are left out.
    assert bo.ad_tracking_enabled is True
    assert bo.attributes == {"plan": "free"}


def test_broken_rows_are_rejected_by_physical_line_and_good_rows_still_imported(workspace):
    report = _import(workspace, (
        "external_id,email,ad_tracking_enabled\n"      # 1
        "a,a@example.com,yes\n"                        # 2
        "b,b@example.com\n"                            # 3 one column short
        ",nobody@example.com,true\n"                   # 4
        "a,again@example.com,true\n"                   # 5 duplicate of line 2
        "c,c@example.com,maybe\n"                      # 6
        'd,"d@example.com",1\n'                        # 7
        '"e\nwith a line break",e@example.com,0\n'     # 8-9: one row over two lines
        ",,\n"                                         # 10 an empty spreadsheet row
        "f,f@example.com,true,extra\n"                 # 11 one column too many
    ))
    assert report.rejected == [
        (3, "has 2 columns, the header has 3"),
        (4, "external_id is empty"),
        (5, "external_id 'a' is on an earlier line too"),
        (6, "ad_tracking_enabled is 'maybe'; expected true/false, yes/no, 1/0 or empty (true)"),
        (11, "has 4 columns, the header has 3"),
    ]
    assert report.rows_read == 8  # the empty spreadsheet row is not a row
    assert report.rejected_count == 5
    assert report.created == 3
    profiles = _profiles(workspace)
    assert set(profiles) == {"a", "d", "e\nwith a line break"}
    assert profiles["a"].email == "a@example.com"


def test_unusable_identifiers_are_kept_with_a_warning_naming_line_and_column(workspace):
    report = _import(workspace, (
        "external_id,email,phone,idfa\n"
        "u1,ana.example.com,555-0100,not-an-idfa\n"
        f"u2,bo@example.com,+81 90 1234 5678,{IDFA}\n"
        "u3,,,00000000-0000-0000-0000-000000000000\n"
    ))
    assert report.rejected == []
    assert [(line, column) for line, column, _ in report.warnings] == [
        (2, "email"), (2, "phone"), (2, "idfa"), (4, "idfa"),
    ]
    assert report.warnings[0][2].startswith("Not an email address")
    assert "country code" in report.warnings[1][2]
    assert "refused ad tracking" in report.warnings[3][2]
    u1 = _profiles(workspace)["u1"]
    assert (u1.email, u1.phone, u1.idfa) == ("ana.example.com", "555-0100", "not-an-idfa")
    assert _profiles(workspace)["u2"].phone_normalized == "+819012345678"
    assert (u1.email_reason, u1.phone_reason, u1.idfa_reason) == (
        "invalid_email", "invalid_phone", "invalid_advertising_id")
    assert (u1.email_sha256, u1.phone_sha256, u1.idfa_sha256) == ("", "", "")


def test_values_the_database_cannot_hold_reject_the_row(workspace):
    report = _import(workspace, (
        "external_id,phone,note\n"
        f"u1,{'1' * 70},\n"  # not a phone either, but a rejected row has no warnings
        "u2,,nul\x00byte\n"
        f"{'x' * 256},,\n"
        "u4,,fine\n"
    ))
    assert report.rejected == [
        (2, "phone is longer than 64 characters"),
        (3, "contains a NUL character"),
        (4, "external_id is longer than 255 characters"),
    ]
    assert set(_profiles(workspace)) == {"u4"}
    assert report.warnings == []


def test_reimport_updates_by_external_id_and_leaves_absent_columns_alone(workspace):
    _import(workspace, (
        "external_id,email,phone,plan,city\n"
        "u1,old@example.com,+14155550123,free,Paris\n"
        "u2,two@example.com,,free,Oslo\n"
    ))
    before = _profiles(workspace)["u1"]

    report = _import(workspace, (
        "external_id,email,plan\n"
        "u1,new@example.com,pro\n"
        "u2,two@example.com,\n"
        "u3,three@example.com,free\n"
    ))

    assert (report.created, report.updated) == (1, 2)
    profiles = _profiles(workspace)
    assert len(profiles) == 3
    u1 = profiles["u1"]
    assert u1.email == "new@example.com"
    assert u1.phone == "+14155550123"  # no phone column in the second file
    assert u1.attributes == {"plan": "pro", "city": "Paris"}
    assert u1.created_at == before.created_at
    assert u1.updated_at > before.updated_at
    # An empty cell in an attribute column the file has removes that attribute.
    assert profiles["u2"].attributes == {"city": "Oslo"}


def test_import_only_touches_its_own_workspace(workspace):
    other = ProfileFactory(workspace=WorkspaceFactory(), external_id="u1", email="keep@x.com")
    report = _import(workspace, "external_id,email\nu1,mine@example.com\n")
    assert report.created == 1
    other.refresh_from_db()
    assert other.email == "keep@x.com"


def test_batches_report_progress_and_count_created_and_updated_across_batches(workspace):
    ProfileFactory(workspace=workspace, external_id="u2")
    ProfileFactory(workspace=workspace, external_id="u5")
    rows = "".join(f"u{n},u{n}@example.com\n" for n in range(1, 8))
    seen = []
    report = _import(workspace, "external_id,email\n" + rows, batch_size=3, progress=seen.append)
    assert (report.created, report.updated) == (5, 2)
    assert seen == [3, 6, 7]
    assert Profile.objects.get(workspace=workspace, external_id="u5").email == "u5@example.com"


def test_queries_per_batch_do_not_grow_with_the_batch_size(db):
    def queries_for(batch_size):
        # Each in a workspace of its own: the first import of a column also catalogues it.
        workspace = WorkspaceFactory()
        rows = "".join(f"{batch_size}-{n},e{n}@example.com,x\n" for n in range(2 * batch_size))
        with CaptureQueriesContext(connection) as captured:
            _import(workspace, "external_id,email,plan\n" + rows, batch_size=batch_size)
        return len(captured)

    assert queries_for(10) == queries_for(40)


def test_lists_in_the_report_are_capped_but_counts_are_exact(workspace, monkeypatch):
    monkeypatch.setattr(imports, "REPORT_LIST_LIMIT", 3)
    rows = "".join(f"u{n},bad-email-{n}\n" for n in range(5)) + "u0,dup@example.com\n" * 4
    report = _import(workspace, "external_id,email\n" + rows)
    assert (report.warning_count, len(report.warnings), report.warnings_not_listed) == (5, 3, 2)
    assert (report.rejected_count, len(report.rejected), report.rejected_not_listed) == (4, 3, 1)


def test_byte_order_mark_of_spreadsheet_exports_is_not_part_of_the_header(workspace):
    data = "\ufeffexternal_id,email\r\nu1,a@example.com\r\n".encode()
    report = profiles_import(workspace=workspace, csv_file=io.BytesIO(data))
    assert report.created == 1


@pytest.mark.parametrize(("text", "message"), [
    ("", "The file is empty"),
    ("email,phone\na@example.com,\n", "with an external_id column (the first line has 'email'"),
    ("u1,a@example.com\n", "header naming the columns"),
    ("external_id,email,Email\n", "The header names email more than once."),
    ("external_id,,plan\n", "Column 2 of the header has no name."),
])
def test_a_file_without_a_usable_header_is_refused(workspace, text, message):
    with pytest.raises(ServiceError, match=message.replace("(", r"\(")):
        _import(workspace, text)
    assert not Profile.objects.exists()


def test_a_row_that_is_not_utf8_is_rejected_alone_with_its_line(workspace):
    good = "".join(f"u{n},city\n" for n in range(3000)).encode()
    data = (b"external_id,city\n" + good + b"late,Malm\xf6\n"       # line 3002
            + b"after,Oslo\r\n" + b"last,Malm\xc3\xb6")            # valid UTF-8, no newline
    report = profiles_import(workspace=workspace, csv_file=io.BytesIO(data), batch_size=1000)

    assert report.rejected == [
        (3002, "is not UTF-8 text (byte 0xF6 after 'late,Malm'); save the file as CSV UTF-8"),
    ]
    assert (report.rows_read, report.created, report.rejected_count) == (3003, 3002, 1)
    profiles = _profiles(workspace)
    assert len(profiles) == 3002 and "late" not in profiles
    assert profiles["after"].attributes == {"city": "Oslo"}
    assert profiles["last"].attributes == {"city": "Malmö"}


def test_a_latin1_file_imports_its_plain_rows_and_rejects_the_others_by_line(workspace):
    latin1 = "external_id,city\nu1,Malmö\nu2,Oslo\nu3,Gävle\n".encode("latin-1")
    report = profiles_import(workspace=workspace, csv_file=io.BytesIO(latin1))
    assert [line for line, _ in report.rejected] == [2, 4]
    assert all("is not UTF-8 text" in reason for _, reason in report.rejected)
    assert set(_profiles(workspace)) == {"u2"}


def test_a_header_that_is_not_utf8_is_refused(workspace):
    with pytest.raises(ServiceError, match=r"The header line cannot be read: it is not UTF-8"):
        profiles_import(workspace=workspace,
                        csv_file=io.BytesIO(b"external_id,st\xe4dt\nu1,x\n"))
    assert not Profile.objects.exists()


def test_a_quote_never_closed_rejects_only_its_row_and_the_rows_after_it_are_imported(workspace):
    report = _import(workspace, (
        "external_id,email\n"             # 1
        "u1,a@example.com\n"               # 2
        'u2,"b@example.com\n'              # 3 a stray quote: never closed
        "u3,c@example.com\n"               # 4
        "u4,d@example.com\n"               # 5
    ))
    assert report.rejected == [(3, 'has a quote that is never closed (a stray "?); the lines '
                                   "after it were read as rows of their own")]
    assert set(_profiles(workspace)) == {"u1", "u3", "u4"}
    assert (report.rows_read, report.created, report.rejected_count) == (4, 3, 1)


def test_a_quote_open_on_the_last_line_rejects_only_that_row(workspace):
    report = _import(workspace, 'external_id,email\nu1,a@example.com\nu2,"b@exam')
    assert report.rejected == [(3, 'has a quote that is never closed (a stray "?)')]
    assert set(_profiles(workspace)) == {"u1"}
    assert report.rows_read == report.imported + report.rejected_count == 2


def test_a_quote_still_open_after_128_kb_rejects_only_its_row(workspace):
    # 3,000 rows of ~60 bytes after the stray quote: past 128 KB before the next quote,
    # which would otherwise close it and swallow every row in between into one value.
    rows = "".join(f"u{n},user{n}@example.com,{'x' * 30}\n" for n in range(3000))
    report = _import(workspace, (
        "external_id,email,note\n"
        'stray,s@example.com,"oops\n'      # line 2
        + rows +
        '"quoted",q@example.com,"a, b"\n'  # line 3003: quotes of its own, closed
    ))
    assert report.rejected == [(2, 'has a quote that is still open 128 KB later (a stray "?); '
                                   "the lines after it were read as rows of their own")]
    profiles = _profiles(workspace)
    assert len(profiles) == 3001 and "stray" not in profiles
    assert profiles["quoted"].attributes == {"note": "a, b"}
    assert (report.rows_read, report.created, report.rejected_count) == (3002, 3001, 1)


def test_quoted_line_breaks_stay_legal_around_rows_that_are_rejected(workspace):
    data = (
        b"external_id,note\r\n"
        b"u0,Malm\xf6\r\n"                                             # line 2: Latin-1
        b'u1,"first line\r\nsecond, with a comma\r\n""third"""\r\n'  # lines 3-5
        b"u2,plain,extra\r\n"                                          # line 6: 3 columns
        b'u3,"' + b"long\n" * 20_000 + b'"\n'  # lines 7-20007: 100 KB in quotes, under 128
        b"u4,end\n"
    )
    report = profiles_import(workspace=workspace, csv_file=io.BytesIO(data))
    assert [line for line, _ in report.rejected] == [2, 6]
    profiles = _profiles(workspace)
    assert set(profiles) == {"u1", "u3", "u4"}
    assert profiles["u1"].attributes == {"note": 'first line\r\nsecond, with a comma\r\n"third"'}
    assert profiles["u3"].attributes == {"note": ("long\n" * 20_000).strip()}
    assert report.rows_read == report.imported + report.rejected_count == 5


def test_a_line_of_many_megabytes_is_rejected_and_the_next_line_read(workspace):
    data = b"external_id,note\nu1," + b"x" * 3_000_000 + b"\nu2,fine\n"
    report = profiles_import(workspace=workspace, csv_file=io.BytesIO(data))
    assert report.rejected == [(2, "is longer than 128 KB")]
    assert set(_profiles(workspace)) == {"u2"}


# --- the command ------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str):
        path = tmp_path / "profiles.csv"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def _command(*args):
    out = io.StringIO()
    call_command("import_profiles", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_imports_and_ends_with_the_counts(workspace, csv_file):
    path = csv_file("external_id,email\nu1,a@example.com\nu2,not-an-email\n")
    out = _command("--workspace", workspace.slug, path)
    assert "line 3: warning: email: Not an email address" in out
    assert "2 rows read: 2 created, 0 updated, 0 rejected, 1 warnings" in out
    assert Profile.objects.filter(workspace=workspace).count() == 2


def test_command_lists_rejected_rows_and_exits_with_status_1(workspace, csv_file):
    path = csv_file("external_id,email\nu1,a@example.com\n,b@example.com\n")
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("import_profiles", "--workspace", workspace.slug, path, stdout=out)
    assert error.value.returncode == 1
    assert str(error.value) == "1 of 2 rows were rejected (listed above); the other rows " \
        "were imported."
    assert "line 3: rejected: external_id is empty" in out.getvalue()
    assert "2 rows read: 1 created" in out.getvalue()
    assert Profile.objects.filter(workspace=workspace).count() == 1


def test_command_counts_add_up_when_rows_are_broken(workspace, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(b"external_id,email\n"
                     b"u1,a@example.com\n"
                     b'u2,"b@example.com\n'      # line 3: a quote never closed
                     b"u3,c@example.com\n"
                     b"u4,d\xe9@example.com\n"   # line 5: Latin-1
                     b"u5,e@example.com\n")
    out = io.StringIO()
    with pytest.raises(CommandError, match="2 of 5 rows were rejected"):
        call_command("import_profiles", "--workspace", workspace.slug, str(path), stdout=out,
                     stderr=io.StringIO())
    output = out.getvalue()
    assert "line 3: rejected: has a quote that is never closed" in output
    assert "line 5: rejected: is not UTF-8 text (byte 0xE9 after 'u4,d')" in output
    assert "5 rows read: 3 created, 0 updated, 2 rejected" in output
    assert set(_profiles(workspace)) == {"u1", "u3", "u5"}


def test_command_names_the_workspaces_when_the_slug_is_unknown(workspace, csv_file):
    with pytest.raises(CommandError, match=rf"No workspace with slug 'nope'\. Workspaces: "
                                           rf"{workspace.slug}\."):
        _command("--workspace", "nope", csv_file("external_id\n"))


def test_command_says_when_the_file_cannot_be_read(workspace, tmp_path):
    missing = tmp_path / "missing.csv"
    with pytest.raises(CommandError, match=rf"Cannot read {missing}: No such file or directory"):
        _command("--workspace", workspace.slug, str(missing))


def test_command_reports_a_bad_header_as_an_error(workspace, csv_file):
    with pytest.raises(CommandError, match="with an external_id column"):
        _command("--workspace", workspace.slug, csv_file("id,email\n1,a@example.com\n"))


def test_command_failure_is_one_line_on_stderr_without_traceback(workspace, capsys):
    from audiencesync.workspaces.management.commands.import_profiles import Command

    with pytest.raises(SystemExit) as exit_status:
        Command().run_from_argv(
            ["manage.py", "import_profiles", "--skip-checks", "--workspace", "nope", "x.csv"]
        )
    assert exit_status.value.code == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("CommandError: No workspace with slug 'nope'.")
    assert "Traceback" not in stderr


def test_generated_benchmark_file_imports_with_its_share_of_unusable_values(workspace, tmp_path):
    path = tmp_path / "generated.csv"
    call_command("generate_profiles_csv", str(path), "--rows", "200", "--unusable-share", "0.1",
                 stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError, match="exists; pass --overwrite"):
        call_command("generate_profiles_csv", str(path), stdout=io.StringIO())
    with path.open("rb") as binary:
        report = profiles_import(workspace=workspace, csv_file=binary)
    assert (report.created, report.rejected_count) == (200, 0)
    # Each unusable row carries a bad email, phone and IDFA.
    assert report.warning_count % 3 == 0 and 0 < report.warning_count < 200
