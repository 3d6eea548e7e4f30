import django.db.models
from django.db import migrations

import voronka.kernel.models


class Migration(migrations.Migration):
    dependencies = [("kernel", "0004_storedfile_backfill")]

    operations = [
        migrations.AlterField(
            model_name="storedfile",
            name="token",
            field=django.db.models.CharField(
                default=voronka.kernel.models.new_file_token,
                editable=False,
                max_length=64,
                unique=True,
            ),
        ),
    ]
