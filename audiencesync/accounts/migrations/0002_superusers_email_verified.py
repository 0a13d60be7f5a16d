"""Email verification became mandatory: superusers made before it (by createsuperuser or
the demo login) had their address typed by the operator, so it counts as verified, as it
does for those made from now on. Everyone else verifies at their next login."""

from django.db import migrations


def superusers_verified(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    for user in User.objects.filter(is_superuser=True).exclude(
        emailaddress__verified=True
    ):
        address, _ = EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
        EmailAddress.objects.filter(pk=address.pk).update(verified=True)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(superusers_verified, migrations.RunPython.noop)]
