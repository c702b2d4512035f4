"""Issue 11, the back office: the review queue and inventory pages (proxies of ProductTag)
and BackfillRun (a resumable, rate-limited analysis of an existing catalogue)."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jewel_vision', '0005_stored_names'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Inventory',
            fields=[
            ],
            options={
                'verbose_name': 'inventory',
                'verbose_name_plural': 'inventory',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('jewel_vision.producttag',),
        ),
        migrations.CreateModel(
            name='Review',
            fields=[
            ],
            options={
                'verbose_name': 'review queue',
                'verbose_name_plural': 'review queue',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('jewel_vision.producttag',),
        ),
        migrations.CreateModel(
            name='BackfillRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('selection', models.CharField(choices=[('all', 'All photos (analyse again)'), ('new', 'Photos never analysed'), ('untagged', 'Photos of untagged products'), ('failed', 'Photos whose analysis failed'), ('outdated', 'Photos analysed by an older pipeline version'), ('products', 'Photos of chosen products')], default='new', max_length=10)),
                ('product_ids', models.JSONField(blank=True, default=list)),
                ('pipeline_version', models.CharField(max_length=200)),
                ('status', models.CharField(choices=[('running', 'Running'), ('done', 'Done'), ('cancelled', 'Cancelled')], default='running', max_length=10)),
                ('rate', models.FloatField(default=10.0)),
                ('max_in_flight', models.PositiveIntegerField(default=32)),
                ('total', models.PositiveIntegerField(default=0)),
                ('cursor', models.CharField(blank=True, default='', max_length=64)),
                ('exhausted', models.BooleanField(default=False)),
                ('enqueued', models.PositiveIntegerField(default=0)),
                ('skipped', models.PositiveIntegerField(default=0)),
                ('unreadable', models.PositiveIntegerField(default=0)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('summary', models.JSONField(blank=True, default=dict)),
                ('analyses', models.ManyToManyField(blank=True, related_name='+', to='jewel_vision.analysis')),
                ('started_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'backfill',
                'verbose_name_plural': 'backfills',
                'ordering': ['-created_at', '-pk'],
            },
        ),
    ]
