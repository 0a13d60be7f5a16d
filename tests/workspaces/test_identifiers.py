import csv
import hashlib
import string
import uuid
from pathlib import Path
from types import SimpleNamespace

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiencesync.workspaces import identifiers
from audiencesync.workspaces.identifiers import normalize, profile_identifiers

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "identifiers.csv"


def _vectors():
    with VECTORS_PATH.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows, f"no test vectors in {VECTORS_PATH}"
    return [
        pytest.param(row, id=f"line{line}-{row['field']}-{row['raw'].strip() or 'empty'}")
        for line, row in enumerate(rows, start=2)
    ]


@pytest.mark.parametrize("row", _vectors())
def test_shared_vector(row):
    result = normalize(field=row["field"], raw=row["raw"], default_country=row["default_country"])
    if row["reason"]:
        assert (result.value, result.sha256, result.reason) == (None, None, row["reason"])
        assert not result.ok
    else:
        assert (result.value, result.sha256, result.reason) == (
            row["normalized"], row["sha256"], None
        )
        assert result.ok


def test_every_reason_has_words_for_the_pages():
    with VECTORS_PATH.open(encoding="utf-8", newline="") as file:
        vector_reasons = {row["reason"] for row in csv.DictReader(file) if row["reason"]}
    assert vector_reasons | {"missing", "ad_tracking_disabled"} <= set(identifiers.REASON_TEXT)
    assert normalize(field="email", raw="nope").reason_text.startswith("Not an email")


def test_blank_values_are_refused_as_that_kind_of_identifier():
    assert normalize(field="email", raw="  ").reason == "invalid_email"
    assert normalize(field="phone", raw="", default_country="US").reason == "invalid_phone"
    assert normalize(field="idfa", raw="").reason == "invalid_advertising_id"


def test_pre_hashed_phone_and_advertising_id_pass_through_lower_cased():
    digest = hashlib.sha256(b"+14155550123").hexdigest()
    for field in ("phone", "idfa", "gaid"):
        result = normalize(field=field, raw=f" {digest.upper()} ", default_country="US")
        assert (result.value, result.sha256) == (digest, digest)


def test_unknown_field_is_a_programming_error():
    with pytest.raises(ValueError, match="not an identifier field"):
        normalize(field="fax", raw="123")


def test_profile_identifiers_tell_missing_from_invalid():
    profile = SimpleNamespace(
        email="", phone="415 555 0123", idfa="not-a-uuid", gaid=" ", ad_tracking_enabled=True
    )
    judged = profile_identifiers(profile=profile, default_country="US")
    assert {field: n.reason for field, n in judged.items()} == {
        "email": "missing", "phone": None, "idfa": "invalid_advertising_id", "gaid": "missing",
    }
    assert judged["phone"].value == "+14155550123"


def test_profile_identifiers_withhold_advertising_ids_when_tracking_is_off():
    profile = SimpleNamespace(
        email="a@example.com", phone="", idfa=str(uuid.uuid4()), gaid=str(uuid.uuid4()),
        ad_tracking_enabled=False,
    )
    judged = profile_identifiers(profile=profile, default_country="US",
                                 fields=["email", "idfa", "gaid"])
    assert judged["email"].ok
    assert judged["idfa"].reason == judged["gaid"].reason == "ad_tracking_disabled"
    consented = profile_identifiers(profile=profile, default_country="US", fields=["idfa"],
                                    respect_ad_tracking=False)
    assert consented["idfa"].value == profile.idfa


# --- properties -----------------------------------------------------------------

fields = st.sampled_from(identifiers.FIELDS)
countries = st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS))


@given(field=fields, raw=st.text(), country=countries)
def test_any_text_gets_either_a_value_and_its_hash_or_a_known_reason(field, raw, country):
    result = normalize(field=field, raw=raw, default_country=country)
    if result.ok:
        assert result.sha256 in (result.value, hashlib.sha256(result.value.encode()).hexdigest())
        assert len(result.sha256) == 64 and result.sha256 == result.sha256.lower()
    else:
        assert result.value is None and result.sha256 is None
        assert result.reason in identifiers.REASON_TEXT


@given(field=fields, raw=st.text(), country=countries, other_country=countries)
def test_normalising_twice_changes_nothing(field, raw, country, other_country):
    once = normalize(field=field, raw=raw, default_country=country)
    if once.ok:
        # A normalised phone is international: the country no longer matters.
        assert normalize(field=field, raw=once.value, default_country=other_country) == once


ascii_label = st.text(string.ascii_letters + string.digits, min_size=1, max_size=12)


@given(local=st.text(string.ascii_letters + string.digits + ".+_-", min_size=1, max_size=20),
       domain=ascii_label, tld=st.text(string.ascii_letters, min_size=2, max_size=6),
       pad=st.text(" \t", max_size=3))
def test_email_case_and_surrounding_spaces_do_not_change_the_person(local, domain, tld, pad):
    address = f"{local}@{domain}.{tld}"
    shouted = normalize(field="email", raw=f"{pad}{address.upper()}{pad}")
    assert shouted == normalize(field="email", raw=address.lower())
    # Dots and +tags are part of the address: removing them would match someone else.
    assert shouted.value == address.lower()


@given(region=countries)
def test_a_national_number_in_the_workspace_country_is_the_international_number(region):
    example = phonenumbers.example_number(region)
    if example is None:
        return
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    result = normalize(field="phone", raw=national, default_country=region)
    assert result.value == international
    assert result.sha256 == hashlib.sha256(international.encode()).hexdigest()


@given(device_id=st.uuids(), field=st.sampled_from(identifiers.ADVERTISING_ID_FIELDS))
def test_every_uuid_is_an_advertising_id_in_lower_case(device_id, field):
    result = normalize(field=field, raw=str(device_id).upper())
    if device_id.int == 0:
        assert result.reason == "zeroed_advertising_id"
    else:
        assert result.value == str(device_id)
