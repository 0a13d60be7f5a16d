from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "audiencesync.workspaces"
    label = "workspaces"
    verbose_name = "Workspaces and profiles"
