"""Reads for the profile pages."""

import re
import sys

import phonenumbers
from django.db.models import Q, QuerySet

from . import identifiers
from .models import AttributeDefinition, Profile, Workspace

# What people type around the digits of a phone number.
_PHONE_PUNCTUATION = re.compile(r"[\s().-]")
_PHONE_DIGITS = re.compile(r"\+?\d{3,}")
_SURROGATES_START, _SURROGATES_END = 0xD800, 0xDFFF


def profile_search(*, workspace: Workspace, query: str) -> QuerySet[Profile]:
    """The workspace's profiles whose external id, email or phone starts with ``query``.

    Emails and phones are matched on their stored normalised values, so the query is
    normalised the same way: an email is matched in lower case, and a phone number typed
    the way a person writes it (national, with spaces or dashes) is matched in E.164.
    """
    profiles = Profile.objects.live().filter(workspace=workspace)
    query = query.strip()
    if not query:
        return profiles
    if "\x00" in query:
        # No stored value holds a NUL (PostgreSQL refuses it in text), so nothing matches.
        return profiles.none()
    if "@" in query:
        return profiles.filter(_starts_with("email_normalized", query.lower()))
    condition = _starts_with("external_id", query)
    phone_prefix = _phone_prefix(query, default_country=workspace.default_country)
    if phone_prefix:
        condition |= _starts_with("phone_normalized", phone_prefix)
    return profiles.filter(condition)


def profile_count(*, workspace: Workspace) -> int:
    return Profile.objects.live().filter(workspace=workspace).count()


def _starts_with(field: str, prefix: str) -> Q:
    """A prefix match that a B-tree index on ``field`` can serve.

    ``LIKE 'x%'`` alone reads every row of the workspace on SQLite (its LIKE ignores case,
    the index does not) and on PostgreSQL without pattern operator classes; the range
    bounds let the index find the rows, the LIKE keeps the match exact under any collation.
    """
    bounds = {f"{field}__gte": prefix, f"{field}__startswith": prefix}
    following = _next_character(prefix[-1])
    if following is not None:
        bounds[f"{field}__lt"] = prefix[:-1] + following
    return Q(**bounds)


def _next_character(character: str) -> str | None:
    """The character after ``character`` that text can hold (surrogates cannot be encoded)."""
    code = ord(character) + 1
    if _SURROGATES_START <= code <= _SURROGATES_END:
        code = _SURROGATES_END + 1
    return chr(code) if code <= sys.maxunicode else None


def _phone_prefix(query: str, *, default_country: str) -> str | None:
    """The E.164 prefix a phone-like query stands for, or None when it is not phone-like."""
    digits = _PHONE_PUNCTUATION.sub("", query)
    if not _PHONE_DIGITS.fullmatch(digits):
        return None
    whole = identifiers.normalize(field="phone", raw=query, default_country=default_country)
    if whole.ok:
        return whole.value
    if digits.startswith("+"):
        return digits
    # A national fragment: behind the country code, without the trunk prefix (JP "090" is
    # "+8190"), which E.164 drops.
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(default_country.upper())
    if metadata is None:
        return None
    trunk = metadata.national_prefix or ""
    national = digits.removeprefix(trunk) if trunk else digits
    return f"+{metadata.country_code}{national}"


def attribute_definitions(*, workspace: Workspace) -> QuerySet[AttributeDefinition]:
    """The workspace's custom attributes, by name, with their last count."""
    return AttributeDefinition.objects.filter(workspace=workspace).order_by("name")
