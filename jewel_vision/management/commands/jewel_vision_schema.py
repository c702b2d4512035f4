"""Print the OpenAPI schema of ``/api/v1`` as YAML (what ``jewel_vision/api/schema/v1.yaml`` holds).

    python manage.py jewel_vision_schema > jewel_vision/api/schema/v1.yaml
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from jewel_vision.api.openapi import generate_schema, render_yaml


class Command(BaseCommand):
    help = "Print the OpenAPI schema of /api/v1 as YAML."

    def handle(self, *args, **options) -> None:
        self.stdout.write(render_yaml(generate_schema()), ending="")
