"""The stored forms of the pipeline's findings get names of their own (issue 13): the
vision core's dataclasses ``Detection``, ``Region``, ``TextFinding`` and ``Embedding``
no longer share their names with tables."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("jewel_vision", "0004_product_lock")]

    operations = [
        migrations.RenameModel("Detection", "StoredDetection"),
        migrations.RenameModel("Region", "StoredRegion"),
        migrations.RenameModel("TextFinding", "StoredText"),
        migrations.RenameModel("Embedding", "StoredEmbedding"),
    ]
