"""Files get a random public token and the key of the field they are attached to (decision 0009).
The token is added nullable here, filled by 0004 and made unique and required by 0005."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("kernel", "0002_audit_append_only")]

    operations = [
        migrations.AddField(
            model_name="storedfile",
            name="token",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="storedfile",
            name="field_key",
            field=models.CharField(blank=True, default="", max_length=50),
        ),
    ]
