"""A staff user for trying the example: ada / lovelace. Never do this in a real site."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import migrations


def create_demo_user(apps, schema_editor):
    User = apps.get_model("auth", "User")
    User.objects.create(username="ada", is_staff=True, password=make_password("lovelace"))


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_demo_user, migrations.RunPython.noop)]
