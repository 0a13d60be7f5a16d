"""The moved API keys' table takes its owner's name (``canvas_apikey`` -> ``workspaces_apikey``),
rows, ids and references kept; admin permissions granted on it follow the model."""

from django.db import migrations


def content_type_move(apps, schema_editor, *, source: str, target: str):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    if ContentType.objects.filter(app_label=target, model='apikey').exists():
        return
    ContentType.objects.filter(app_label=source, model='apikey').update(app_label=target)


def forwards(apps, schema_editor):
    content_type_move(apps, schema_editor, source='canvas', target='workspaces')


def backwards(apps, schema_editor):
    content_type_move(apps, schema_editor, source='workspaces', target='canvas')


class Migration(migrations.Migration):

    dependencies = [
        ('workspaces', '0005_api_key_moved_from_canvas'),
        ('canvas', '0006_api_key_moved_to_workspaces'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterModelTable(name='apikey', table=None),
        migrations.RunPython(forwards, backwards),
    ]
