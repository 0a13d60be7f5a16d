"""The repository stands alone: a clone in any folder runs its tests with nothing beside it."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Paths of the machine the project was first written on, or of folders beside the checkout.
# (Built from parts so that this file does not name them itself.)
OUTSIDE = re.compile(
    "|".join([r"\.\./+" + "shared/", "/" + "work/", r"parents\[[3-9]\]\s*/\s*[\"']" + "shared"])
)


def _tracked_text_files():
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False
    )
    if listed.returncode != 0:  # an exported tree without .git: read every file
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts]
    return [ROOT / name for name in listed.stdout.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for path in _tracked_text_files():
        if path.suffix in {".png", ".ico", ".woff", ".woff2"} or not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_identifier_vectors_live_inside_the_repository():
    vectors = ROOT / "tests" / "data" / "identifiers.csv"
    assert vectors.is_file()
    assert vectors.read_text(encoding="utf-8").startswith("field,")
