from django.apps import AppConfig


class ProofsConfig(AppConfig):
    """The demo and bench commands: the product run from the outside, on top of every floor."""

    name = "audiencesync.proofs"
    label = "proofs"
    verbose_name = "Proofs (demo and benchmark)"
