from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "partners.sandbox"
    label = "sandbox"
    verbose_name = "Partner sandbox"
