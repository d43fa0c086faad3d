from django.apps import AppConfig


class TilesConfig(AppConfig):
    name = "tiles"
    verbose_name = "Tiles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tiles import signals  # noqa: F401  (connects the build triggers)
