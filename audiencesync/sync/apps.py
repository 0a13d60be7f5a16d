from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "audiencesync.sync"
    label = "sync"
    verbose_name = "Sync engine"

    def ready(self):
        from audiencesync.workspaces import hooks

        from .views import profile_sync_history

        hooks.profile_section_add(title="Sync history", render=profile_sync_history)
