"""Writes for logins."""

from allauth.account.models import EmailAddress


def user_email_mark_verified(*, user) -> EmailAddress:
    """Record the user's address as verified and primary: for logins an operator makes
    (createsuperuser, the development demo login), who need no verification mail."""
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    if not (address.verified and address.primary):
        EmailAddress.objects.filter(user=user, primary=True).exclude(pk=address.pk).update(
            primary=False
        )
        address.verified = address.primary = True
        address.save(update_fields=["verified", "primary"])
    return address
