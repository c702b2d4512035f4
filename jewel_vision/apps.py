from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


class JewelVisionConfig(AppConfig):
    name = "jewel_vision"
    verbose_name = "Jewel Vision"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, once the app registry is ready: they import the models.
        from jewel_vision import checks, signals  # noqa: F401 - checks registers the system checks
        from jewel_vision.conf import SETTING_NAME, jv_settings
        from jewel_vision.registry import pipeline_config

        # Values are checked here (a bad one stops start-up); models and field names by
        # the system checks (jewel_vision.E001...), which report every problem at once.
        jv_settings.validate()
        pipeline_config()
        signals.connect()

        def settings_changed(*, setting: str, **kwargs: Any) -> None:
            if setting == SETTING_NAME:
                jv_settings.reload()
                signals.connect()

        setting_changed.connect(settings_changed, dispatch_uid="jewel_vision.settings_changed", weak=False)
