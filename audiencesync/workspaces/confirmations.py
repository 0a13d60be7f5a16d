"""What removing or demoting a member says before it acts."""

from __future__ import annotations

from django.urls import reverse

from audiencesync.confirm import Confirmation

from .models import Membership, Role

# What a role can do that the roles below it cannot, said when someone loses it.
ROLE_POWERS = {
    Role.OWNER: "make owners, and change or remove owners",
    Role.ADMIN: "connect partners, or manage members and API keys",
}
ROLE_RANK = [Role.OWNER, Role.ADMIN, Role.MEMBER]


def membership_remove(*, actor: Membership, membership: Membership) -> Confirmation:
    workspace = actor.workspace
    yourself = membership.user_id == actor.user_id
    who = "you" if yourself else membership.user.email
    return Confirmation(
        title=f"Remove {membership.user.email} from {workspace.name}?",
        consequences=[f"Remove {who} from workspace {workspace.name}: "
                      f"{'you lose' if yourself else 'they lose'} access to its canvases, "
                      "profiles and partners at once."],
        button="Remove member", cancel_url=reverse("members"),
        fields={"membership_id": membership.pk},
    )


def membership_demote(*, actor: Membership, membership: Membership,
                      role: str) -> Confirmation | None:
    """The question before a change to a lower role; None for a promotion or no change."""
    if role not in Role.values or ROLE_RANK.index(role) <= ROLE_RANK.index(membership.role):
        return None
    workspace = actor.workspace
    yourself = membership.user_id == actor.user_id
    who = "You become" if yourself else f"{membership.user.email} becomes"
    label = Role(role).label.lower()
    lost = [ROLE_POWERS[r] for r in ROLE_RANK[ROLE_RANK.index(membership.role):
                                              ROLE_RANK.index(role)]]
    return Confirmation(
        title=f"Make {membership.user.email} {label} of {workspace.name}?",
        consequences=[f"{who} {label} of workspace {workspace.name}: "
                      f"{'you' if yourself else 'they'} can no longer {'; nor '.join(lost)}."],
        button=f"Make {label}", cancel_url=reverse("members"),
        fields={"membership_id": membership.pk, "role": role},
    )
