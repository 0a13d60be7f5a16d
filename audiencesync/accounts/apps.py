from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "audiencesync.accounts"
    label = "accounts"
    verbose_name = "Accounts"
