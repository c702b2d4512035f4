from django.apps import AppConfig


class JewelVisionConfig(AppConfig):
    name = "jewel_vision"
    verbose_name = "Jewel Vision"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from jewel_vision import checks, signals  # noqa: F401 - checks registers the system checks
        from jewel_vision.conf import jv_settings

        # Values are checked here (a bad one stops start-up); models and field names by
        # the system checks (jewel_vision.E001...), which report every problem at once.
        jv_settings.validate(models=False)
        # Connected without a sender and filtered in the handlers, so the
        # configured model can change under override_settings in tests.
        post_save.connect(signals.image_saved, dispatch_uid="jewel_vision.image_saved")
        post_delete.connect(signals.instance_deleted, dispatch_uid="jewel_vision.instance_deleted")
