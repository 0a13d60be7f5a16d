from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "audiencesync.sync"
    label = "sync"
    verbose_name = "Sync engine"
