"""A property of the CSV import: a broken row costs no good row, and the counts add up.

Files are built from good rows and broken ones: a byte that is not UTF-8, or a stray
quote that opens a quoted value and never closes it on its own line. A stray quote is
closed by the next line holding a quote (here, only the next stray quote's line), and
the csv rules make everything in between one value: those rows are swallowed by
design, unless that value would pass MAX_ROW_BYTES, and then only the stray row is
rejected. Every other good row must be imported.
"""

import io
from dataclasses import dataclass

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from audiencesync.workspaces.csv_rows import MAX_ROW_BYTES
from audiencesync.workspaces.imports import profiles_import
from audiencesync.workspaces.models import Profile
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Line:
    kind: str  # "good", "bad_byte" or "stray_quote"
    start: bytes
    padding: int  # this many x after the start: a few lines reach the limit together
    ending: bytes

    @property
    def raw(self) -> bytes:
        return self.start + b"x" * self.padding + self.ending

    @property
    def external_id(self) -> str:
        return self.start.split(b",")[0].decode()


_note = st.text(st.characters(blacklist_characters='",\r\n', blacklist_categories=("Cs", "Cc")),
                max_size=12)
_padding = st.sampled_from([0, 0, 0, 100, 30_000, 70_000])


@st.composite
def csv_lines(draw):
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    kinds = draw(st.lists(st.sampled_from(["good"] * 4 + ["bad_byte", "stray_quote"]),
                          min_size=1, max_size=25))
    lines = []
    for number, kind in enumerate(kinds):
        note = draw(_note).encode()
        if kind == "good":
            start = b"g%d,%s" % (number, note)
        elif kind == "bad_byte":
            bad = draw(st.sampled_from([b"\xe9", b"\xff", b"\xc3("]))
            start = b"b%d,%s%s" % (number, bad, note)
        else:
            start = b's%d,"open %s' % (number, note)
        lines.append(Line(kind, start, draw(_padding), ending))
    if draw(st.booleans()):  # the last line without its line break
        last = lines[-1]
        lines[-1] = Line(last.kind, last.start, last.padding, b"")
    return lines


def _expected(lines: list[Line]) -> tuple[set[str], dict[int, str]]:
    """The good rows that must be imported, and the lines rejected alone (with why)."""
    kept, rejected = set(), {}
    index = 0
    while index < len(lines):
        line, number = lines[index], index + 2  # the header is line 1
        if line.kind == "good":
            kept.add(line.external_id)
        elif line.kind == "bad_byte":
            rejected[number] = "is not UTF-8 text"
        else:
            closing = next((i for i in range(index + 1, len(lines))
                            if lines[i].kind == "stray_quote"), None)
            last = len(lines) - 1 if closing is None else closing
            if sum(len(x.raw) for x in lines[index:last + 1]) > MAX_ROW_BYTES:
                rejected[number] = "still open 128 KB later"
            elif closing is None:
                rejected[number] = "never closed"
            else:
                index = closing  # one value up to the closing quote: swallowed by design
        index += 1
    return kept, rejected


@seed(20261202)
@settings(max_examples=60, deadline=None)
@given(lines=csv_lines())
def test_broken_rows_cost_no_good_row_and_the_counts_add_up(lines):
    workspace = WorkspaceFactory()
    data = b"external_id,note\n" + b"".join(line.raw for line in lines)

    report = profiles_import(workspace=workspace, csv_file=io.BytesIO(data))

    kept, rejected_alone = _expected(lines)
    imported = set(Profile.objects.filter(workspace=workspace)
                   .values_list("external_id", flat=True))
    assert kept <= imported
    reasons = dict(report.rejected)
    for number, why in rejected_alone.items():
        assert why in reasons.get(number, ""), (number, reasons)
    assert report.rows_read == report.created + report.updated + report.rejected_count
    assert report.created == len(imported)
