"""Where higher floors plug into the ground floor without the ground floor importing them.

The ground floor (workspaces, profiles) must not import canvas or the sync engine, yet
some of its events matter to them: a profile's consent turned off must take the profile
out of partner audiences, and the profile page shows the profile's sync history. So the
ground floor names the event or the page section here, and the floor above registers a
handler from its ``AppConfig.ready``. Registration is explicit and idempotent; the
handlers themselves are services of the floor that owns the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString

ConsentWithdrawnHandler = Callable[..., object]

_consent_withdrawn: list[ConsentWithdrawnHandler] = []

EventsAcceptedHandler = Callable[..., object]

_events_accepted: list[EventsAcceptedHandler] = []


@dataclass(frozen=True)
class ProfileSection:
    """A section of the profile page that a higher floor supplies: its heading and HTML."""

    title: str
    render: Callable[..., SafeString]  # render(profile=...) -> HTML


_profile_sections: list[ProfileSection] = []


def on_consent_withdrawn(handler: ConsentWithdrawnHandler) -> ConsentWithdrawnHandler:
    """Register ``handler(profile_ids=...)``, called when profiles' ad-tracking consent
    turns off, inside the transaction that turned it off."""
    if handler not in _consent_withdrawn:
        _consent_withdrawn.append(handler)
    return handler


def consent_withdrawn_notify(*, profile_ids: Sequence[int]) -> None:
    """Tell every registered handler that these profiles' consent just turned off."""
    for handler in _consent_withdrawn:
        handler(profile_ids=profile_ids)


def on_events_accepted(handler: EventsAcceptedHandler) -> EventsAcceptedHandler:
    """Register ``handler(workspace_id=..., events=..., received_at=...)``, called with the
    custom events the track API just accepted, as (profile id, name, properties as JSON),
    inside the transaction that wrote them."""
    if handler not in _events_accepted:
        _events_accepted.append(handler)
    return handler


def events_accepted_notify(*, workspace_id: int, events: Sequence[tuple[int, str, str]],
                           received_at) -> None:
    """Tell every registered handler which events the track API accepted just now."""
    for handler in _events_accepted:
        handler(workspace_id=workspace_id, events=events, received_at=received_at)


def profile_section_add(*, title: str, render: Callable[..., SafeString]) -> None:
    """Add a section, headed ``title``, whose HTML is ``render(profile=...)``, to the
    profile page."""
    if title not in {known.title for known in _profile_sections}:
        _profile_sections.append(ProfileSection(title=title, render=render))


def profile_sections_render(*, profile) -> list[tuple[str, SafeString]]:
    """(heading, HTML) of every registered section of this profile's page, in order."""
    return [(section.title, section.render(profile=profile)) for section in _profile_sections]
