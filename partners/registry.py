"""The explicit list of partners the product speaks to."""

from functools import cache
from importlib import import_module

from .base import Partner

# key -> "module.Class"; loaded on first use so that importing the registry stays cheap.
_PARTNERS = {
    "tiktok": "partners.tiktok.TikTok",
    "pinterest": "partners.pinterest.Pinterest",
}


@cache
def get(key: str) -> Partner:
    if key not in _PARTNERS:
        raise KeyError(f"Unknown partner {key!r}; known: {', '.join(_PARTNERS)}.")
    module_name, class_name = _PARTNERS[key].rsplit(".", 1)
    return getattr(import_module(module_name), class_name)()


def all_partners() -> list[Partner]:
    return [get(key) for key in _PARTNERS]


def choices() -> list[tuple[str, str]]:
    return [(partner.key, partner.name) for partner in all_partners()]
