"""The profile page's "Sync history" section.

A tag, so the profile page (audiencesync.workspaces) shows the trace without importing the
sync engine: the dependency stays in the template, resolved when the page renders.
"""

from django import template

from audiencesync.sync.selectors import TRACE_LIMIT, profile_sync_trace
from audiencesync.workspaces.models import Profile

register = template.Library()


@register.inclusion_tag("sync/_profile_sync_history.html")
def profile_sync_history(profile: Profile) -> dict:
    """Every sync item of a profile the calling view already scoped to its workspace."""
    return {"rows": profile_sync_trace(profile=profile), "limit": TRACE_LIMIT}
