"""The explicit list of partners the product speaks to."""

from .base import Partner
from .pinterest import Pinterest
from .tiktok import TikTok

PARTNERS: dict[str, Partner] = {"tiktok": TikTok(), "pinterest": Pinterest()}


class UnknownPartner(KeyError):
    def __str__(self) -> str:
        # KeyError's own str() shows the message in quotes.
        return str(self.args[0])


def get(key: str) -> Partner:
    try:
        return PARTNERS[key]
    except KeyError:
        raise UnknownPartner(
            f"Unknown partner {key!r}; known: {', '.join(PARTNERS)}."
        ) from None


def all_partners() -> list[Partner]:
    return list(PARTNERS.values())


def choices() -> list[tuple[str, str]]:
    """(key, name) pairs for model and form fields."""
    return [(partner.key, partner.name) for partner in PARTNERS.values()]


def names(*, joined_by: str) -> str:
    """Every partner's name for a sentence: "TikTok or Pinterest", "A, B and C"."""
    listed = [partner.name for partner in PARTNERS.values()]
    if len(listed) < 2:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {joined_by} {listed[-1]}"
