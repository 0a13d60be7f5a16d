from allauth.account.adapter import DefaultAccountAdapter

from audiencesync.workspaces.services import user_onboard


class AccountAdapter(DefaultAccountAdapter):
    """Every sign-up lands in a workspace: the ones it was invited to, or a new one it owns."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            user_onboard(user=user)
        return user
