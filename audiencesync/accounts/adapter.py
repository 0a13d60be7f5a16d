from allauth.account.adapter import DefaultAccountAdapter

from audiencesync.workspaces.services import user_onboard


class AccountAdapter(DefaultAccountAdapter):
    """Every sign-up gets a workspace of its own; invitations join others by their link."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            user_onboard(user=user)
        return user
