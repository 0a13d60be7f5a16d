"""The fast path for plainly written phone numbers gives phonenumbers' answers, or none.

Each number is judged twice: by ``phones.e164_fast`` and by ``phonenumbers`` itself (parse,
then ``is_valid_number``, as the product did before the fast path). Where the fast path
answers, the two answers must be the same; where it cannot decide, phonenumbers judges.
"""

import csv
import random
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from audiencesync.workspaces import phones
from audiencesync.workspaces.identifiers import normalize

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "identifiers.csv"
# Default countries a workspace may have, with several national and international prefixes.
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "IT", "IN", "JP", "BR", "AU", "MX", "RU", "AR", "")


def _by_phonenumbers(value: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(value.strip(), region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _example_numbers() -> list[str]:
    """Every region's example number of every type, written in E.164, international and
    national form."""
    written = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for type in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE,
                     PhoneNumberType.TOLL_FREE, PhoneNumberType.PREMIUM_RATE,
                     PhoneNumberType.SHARED_COST, PhoneNumberType.VOIP,
                     PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.PAGER, PhoneNumberType.UAN,
                     PhoneNumberType.VOICEMAIL):
            number = phonenumbers.example_number_for_type(region, type)
            if number is not None:
                written += [phonenumbers.format_number(number, form) for form in (
                    PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL,
                    PhoneNumberFormat.NATIONAL)]
    return written


def test_the_fast_path_agrees_with_phonenumbers_on_every_regions_example_numbers():
    decided = 0
    for value in _example_numbers():
        for region in COUNTRIES:
            fast = phones.e164_fast(value.strip(), region or None)
            if fast is not phones.UNDECIDED:
                decided += 1
                assert fast == _by_phonenumbers(value, region), (value, region)
    # Most plainly written numbers are decided fast, or the fast path would be pointless.
    assert decided > 10_000


@pytest.mark.parametrize("region", COUNTRIES)
def test_the_fast_path_agrees_with_phonenumbers_on_random_digits(region):
    rng = random.Random(region)
    for _ in range(1000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randrange(3, 16)))
        for value in (digits, f"+{digits}", f"+{digits[:2]} {digits[2:5]}-{digits[5:]}",
                      f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"):
            fast = phones.e164_fast(value, region or None)
            if fast is not phones.UNDECIDED:
                assert fast == _by_phonenumbers(value, region), (value, region)


@seed(20261202)
@settings(max_examples=400, deadline=None)
@given(value=st.text(alphabet="+0123456789 ().-x#", min_size=1, max_size=20),
       region=st.sampled_from(COUNTRIES))
def test_whatever_it_is_given_the_fast_path_never_disagrees(value, region):
    fast = phones.e164_fast(value.strip(), region or None)
    if fast is not phones.UNDECIDED:
        assert fast == _by_phonenumbers(value, region)


def test_the_phone_vectors_hold_and_those_written_plainly_are_decided_fast():
    with VECTORS_PATH.open(encoding="utf-8", newline="") as file:
        vectors = [row for row in csv.DictReader(file) if row["field"] == "phone"]
    assert vectors
    fast_answers = 0
    for row in vectors:
        judged = normalize(field="phone", raw=row["raw"], default_country=row["default_country"])
        assert (judged.value or "", judged.reason or "") == (row["normalized"], row["reason"])
        fast = phones.e164_fast(row["raw"].strip(), row["default_country"].upper() or None)
        if fast is not phones.UNDECIDED:
            fast_answers += 1
            assert fast == (row["normalized"] or None)
    assert fast_answers >= len(vectors) // 2


def test_the_benchmark_files_numbers_take_the_fast_path():
    for value in ("+1 415 8553789", "+14158553789", "(415) 855-3789", "415.855.3789"):
        assert phones.e164_fast(value, "US") == "+14158553789"
    # Forms the fast path leaves to phonenumbers: a national prefix, an international
    # dialling prefix, a leading zero, letters, an extension.
    for value in ("1 415 855 3789", "011 44 20 7946 0000", "020 7946 0000",
                  "1-800-FLOWERS", "+1 415 855 3789 ext. 12"):
        assert phones.e164_fast(value, "US") is phones.UNDECIDED
