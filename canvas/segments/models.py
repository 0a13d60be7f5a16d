from django.conf import settings
from django.db import models

from audiencesync.workspaces.models import Workspace


def _empty_definition() -> dict:
    return {"groups": [], "exclusions": []}


class Segment(models.Model):
    """A named choice of a workspace's profiles: filter groups and exclusion groups.

    ``definition`` is the JSON described in ``canvas.segments.compile``, as cleaned by
    ``definition_clean``. The size fields hold the last "calculate exact size" answer and the
    definition it was computed for, so an edit never shows a stale size as current.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    definition = models.JSONField(default=_empty_definition)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # "Calculate exact size": asked when, answered when, for which definition, with what.
    size_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    size_computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    size_definition = models.JSONField(null=True, blank=True, editable=False)
    size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    reach = models.JSONField(default=dict, blank=True, editable=False)
    sample = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="segment_unique_name")
        ]

    def __str__(self) -> str:
        return self.name
