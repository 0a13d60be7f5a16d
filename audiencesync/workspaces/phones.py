"""Phone numbers to E.164 in a few microseconds when they are written plainly.

``phonenumbers`` takes 25-100 us a number, most of it parsing: it strips extensions, tries
letters, international dialling prefixes and national prefixes. A number written as digits
with at most spaces, dashes, dots and brackets, either after a ``+`` (``+1 415 555 0123``,
``+14155550123``) or in the default country's national form without a prefix
(``(415) 555-0123``), needs none of that. For those, ``e164_fast`` applies the same rules
as ``phonenumbers.parse`` followed by ``is_valid_number`` with the library's own metadata,
compiled once per region (the country code read off, the region of the number found by its
leading digits, then its national number matched against the region's number types), and
so gives the same answer. Whatever the fast path cannot decide for sure (a national prefix
or international dialling prefix at the start, a leading zero, letters, an extension, a
non-geographic country code) it hands back as ``UNDECIDED`` for ``phonenumbers`` to judge.
``tests/workspaces/test_phones.py`` compares the two on the example numbers of every
region, in every format, and on random digits.
"""

from __future__ import annotations

import re
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata
from phonenumbers.phonenumberutil import REGION_CODE_FOR_NON_GEO_ENTITY

UNDECIDED = object()

_PLAIN = re.compile(r"\+?[0-9 ().\-]+")
_NOT_DIGITS = str.maketrans("", "", " ().-+")
_COUNTRY_CODES = {str(code): code for code in COUNTRY_CODE_TO_REGION_CODE}
# phonenumbers' bounds on a national significant number; outside them it refuses to parse.
_MIN_NATIONAL_LENGTH = 2
_MAX_NATIONAL_LENGTH = 17
# The number types phonenumbers tries, in its order (PhoneMetadata attribute names).
_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
          "uan", "voicemail", "fixed_line")


def e164_fast(value: str, region: str | None) -> str | None | object:
    """``value`` (trimmed) in E.164, None when it is not a valid number, or ``UNDECIDED``."""
    if not _PLAIN.fullmatch(value):
        return UNDECIDED
    digits = value.translate(_NOT_DIGITS)
    if len(digits) < 3 or digits[0] == "0":
        return UNDECIDED
    if value[0] == "+":
        # The shortest prefix that is a country code is the code, as phonenumbers reads it.
        code = (digits[:1] if digits[:1] in _COUNTRY_CODES
                else digits[:2] if digits[:2] in _COUNTRY_CODES
                else digits[:3] if digits[:3] in _COUNTRY_CODES else None)
        if code is None:
            return UNDECIDED
        national = digits[len(code):]
        rules = _rules_of_country_code(_COUNTRY_CODES[code])
    else:
        rules = _rules_of_region(region) if region else None
        if rules is None or digits.startswith(rules.code):
            return UNDECIDED
        if rules.international_prefix is not None and rules.international_prefix.match(digits):
            return UNDECIDED
        national = digits
    if rules is None:
        return UNDECIDED
    if rules.national_prefix is not None and rules.national_prefix.match(national):
        return UNDECIDED
    if (national[:1] in ("", "0") or not
            _MIN_NATIONAL_LENGTH <= len(national) <= _MAX_NATIONAL_LENGTH):
        return UNDECIDED
    return f"+{rules.code}{national}" if rules.valid(national) else None


class _Desc:
    """A PhoneNumberDesc as phonenumbers matches it: possible lengths, then the pattern."""

    __slots__ = ("lengths", "pattern")

    def __init__(self, desc):
        self.lengths = frozenset(desc.possible_length) if desc.possible_length else None
        self.pattern = re.compile(desc.national_number_pattern)

    def matches(self, national: str) -> bool:
        if self.lengths is not None and len(national) not in self.lengths:
            return False
        return self.pattern.fullmatch(national) is not None


def _desc(desc) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    return _Desc(desc)


class _Region:
    """One region's number types, as ``phonenumbers._number_type_helper`` tries them: a number
    has a type when it matches the general description and one type's (length and pattern).
    Which type does not matter here, so the types possible at each length are one pattern."""

    def __init__(self, metadata):
        self.leading_digits = (re.compile(metadata.leading_digits)
                               if metadata.leading_digits is not None else None)
        self.general = _desc(metadata.general_desc)
        types = [_desc(getattr(metadata, name)) for name in _TYPES]
        if not metadata.same_mobile_and_fixed_line_pattern:
            types.append(_desc(metadata.mobile))
        types = [desc for desc in types if desc is not None]
        self.types_by_length = {}
        for length in range(1, _MAX_NATIONAL_LENGTH + 1):
            patterns = [f"(?:{desc.pattern.pattern})" for desc in types
                        if desc.lengths is None or length in desc.lengths]
            if patterns:
                self.types_by_length[length] = re.compile("|".join(patterns))

    def has_type(self, national: str) -> bool:
        types = self.types_by_length.get(len(national))
        return (types is not None and self.general is not None
                and self.general.matches(national) and types.fullmatch(national) is not None)


class _Rules:
    """How a number is read under a region (its country code and prefixes, as
    ``phonenumbers.parse`` uses them) and judged (the types of every region of the code)."""

    def __init__(self, metadata):
        self.country_code = metadata.country_code
        self.code = str(metadata.country_code)
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        idd = metadata.international_prefix
        self.international_prefix = re.compile(idd) if idd else None
        self.regions = _regions_of_country_code(self.country_code)

    def valid(self, national: str) -> bool:
        """``phonenumbers.is_valid_number``: the first region the number belongs to (by its
        leading digits, or by having one of the region's types) must give it a type."""
        for region in self.regions:
            if region.leading_digits is not None:
                if region.leading_digits.match(national):
                    return region.has_type(national)
            elif region.has_type(national):
                return True
        return False


@cache
def _regions_of_country_code(country_code: int) -> list[_Region]:
    return [_Region(metadata) for code in COUNTRY_CODE_TO_REGION_CODE[country_code]
            if (metadata := PhoneMetadata.metadata_for_region(code, None)) is not None]


@cache
def _rules_of_country_code(country_code: int) -> _Rules | None:
    """A number after a +: read by the rules of its code's main region."""
    main = COUNTRY_CODE_TO_REGION_CODE[country_code][0]
    if main == REGION_CODE_FOR_NON_GEO_ENTITY:
        return None
    return _rules_of_region(main)


@cache
def _rules_of_region(region: str) -> _Rules | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or not metadata.country_code:
        return None
    return _Rules(metadata)
