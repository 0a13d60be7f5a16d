"""API keys now belong to workspaces (see workspaces 0005): canvas's state lets go of the
model; the table and its rows stay as they are."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('canvas', '0005_step_partner_choices_from_registry'),
        ('workspaces', '0005_api_key_moved_from_canvas'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='idempotentresponse',
                    name='api_key',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='workspaces.apikey'),
                ),
                migrations.DeleteModel(name='ApiKey'),
            ],
            database_operations=[],
        ),
    ]
