"""Each profile's identifiers judged once and stored (normalised value, SHA-256 or the
reason it is unusable), so entry copies hashes instead of computing them. Existing
profiles are filled in batches of ids, never all in memory at once."""

from django.db import migrations, models

from audiencesync.workspaces import identifiers

BATCH = 2_000


def fill(apps, schema_editor):
    Profile = apps.get_model('workspaces', 'Profile')
    Workspace = apps.get_model('workspaces', 'Workspace')
    countries = dict(Workspace.objects.values_list('pk', 'default_country'))
    last_pk = 0
    while True:
        batch = list(Profile.objects.filter(pk__gt=last_pk).order_by('pk')
                     .only('pk', 'workspace_id', *identifiers.FIELDS)[:BATCH])
        if not batch:
            return
        for profile in batch:
            row = identifiers.stored_row(
                values={field: getattr(profile, field) for field in identifiers.FIELDS},
                default_country=countries.get(profile.workspace_id, ''))
            for column, value in row.items():
                setattr(profile, column, value)
        Profile.objects.bulk_update(batch, identifiers.STORED_COLUMNS, batch_size=500)
        last_pk = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ('workspaces', '0007_attributes_and_events'),
    ]

    operations = [
        migrations.AddField(
            model_name='profile',
            name='email_normalized',
            field=models.CharField(default='', editable=False, max_length=320),
        ),
        migrations.AddField(
            model_name='profile',
            name='email_reason',
            field=models.CharField(default='missing', editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name='profile',
            name='email_sha256',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='profile',
            name='gaid_normalized',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='profile',
            name='gaid_reason',
            field=models.CharField(default='missing', editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name='profile',
            name='gaid_sha256',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='profile',
            name='idfa_normalized',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='profile',
            name='idfa_reason',
            field=models.CharField(default='missing', editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name='profile',
            name='idfa_sha256',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='profile',
            name='phone_normalized',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='profile',
            name='phone_reason',
            field=models.CharField(default='missing', editable=False, max_length=32),
        ),
        migrations.AddField(
            model_name='profile',
            name='phone_sha256',
            field=models.CharField(default='', editable=False, max_length=64),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        # The profile search matches the normalised values; indexed once they are filled.
        migrations.RemoveIndex(model_name='profile', name='profile_email_idx'),
        migrations.RemoveIndex(model_name='profile', name='profile_phone_idx'),
        migrations.AddIndex(
            model_name='profile',
            index=models.Index(fields=['workspace', 'email_normalized'], name='profile_email_idx'),
        ),
        migrations.AddIndex(
            model_name='profile',
            index=models.Index(fields=['workspace', 'phone_normalized'], name='profile_phone_idx'),
        ),
    ]
