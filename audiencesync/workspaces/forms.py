from zoneinfo import available_timezones

import phonenumbers
import pycountry
from django import forms

from .models import Role

# Regions with calling codes of their own that ISO 3166 counts under Saint Helena.
_NOT_IN_ISO_3166 = {"AC": "Ascension Island", "TA": "Tristan da Cunha"}


def _country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return _NOT_IN_ISO_3166.get(code, code)
    return getattr(country, "common_name", None) or country.name


# By name, as a person looks for their country; the code and calling code follow.
COUNTRY_CHOICES = sorted(
    ((code, f"{_country_name(code)} ({code}, +{phonenumbers.country_code_for_region(code)})")
     for code in phonenumbers.SUPPORTED_REGIONS),
    key=lambda choice: choice[1],
)


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=120)
    default_country = forms.ChoiceField(
        choices=COUNTRY_CHOICES,
        initial="US",
        help_text="Used for phone numbers written without a country code.",
    )
    time_zone = forms.ChoiceField(
        choices=lambda: [(zone, zone) for zone in time_zone_names()], initial="UTC",
        required=False,
        help_text="Scheduled canvases run at their times in this time zone.",
    )


def time_zone_names() -> list[str]:
    return sorted(available_timezones() - {"localtime", "Factory"})


# The largest id a row can have: ids are signed 64-bit integers (BigAutoField).
MAX_ID = 2**63 - 1


class WorkspaceSwitchForm(forms.Form):
    workspace_id = forms.IntegerField(min_value=1, max_value=MAX_ID)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)  # the column's size: longer would not fit
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
