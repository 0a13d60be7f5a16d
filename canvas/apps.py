from django.apps import AppConfig


class CanvasConfig(AppConfig):
    name = "canvas"
    verbose_name = "Canvases"

    def ready(self):
        from audiencesync.workspaces import hooks

        from .services.actions import events_accepted
        from .services.memberships import profiles_consent_withdrawn

        # A CSV import that turns consent off takes the profiles out of partner audiences.
        hooks.on_consent_withdrawn(profiles_consent_withdrawn)
        # Events the track API accepts let users out of canvases that exit on them, and
        # into action-based canvases that start on them.
        hooks.on_events_accepted(events_accepted)
