"""Issue 11: facet heads taught by example (TaughtHead: candidate, switched on, switched off)
and the model versions page (proxy ModelVersion)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jewel_vision', '0006_backoffice'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='TaughtHead',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('facet', models.CharField(max_length=32)),
                ('status', models.CharField(choices=[('training', 'Training'), ('ready', 'Ready (not switched on)'), ('failed', 'Failed'), ('active', 'Switched on'), ('retired', 'Switched off')], default='training', max_length=10)),
                ('version', models.CharField(blank=True, default='', max_length=100)),
                ('report', models.JSONField(blank=True, default=dict)),
                ('path', models.CharField(blank=True, default='', max_length=500)),
                ('error', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('activated_at', models.DateTimeField(blank=True, null=True)),
                ('activated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('backfill', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='jewel_vision.backfillrun')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'taught facet head',
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='ModelVersion',
            fields=[
            ],
            options={
                'verbose_name': 'model versions',
                'verbose_name_plural': 'model versions',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('jewel_vision.taughthead',),
        ),
    ]
