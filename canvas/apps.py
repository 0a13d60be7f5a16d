from django.apps import AppConfig


class CanvasConfig(AppConfig):
    name = "canvas"
    verbose_name = "Canvases"

    def ready(self):
        from audiencesync.workspaces import hooks

        from .services.memberships import profiles_consent_withdrawn

        # A CSV import that turns consent off takes the profiles out of partner audiences.
        hooks.on_consent_withdrawn(profiles_consent_withdrawn)
