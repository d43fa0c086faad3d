from django.apps import AppConfig


class DepthImagesConfig(AppConfig):
    name = "depth_images"
    verbose_name = "Depth images"
    default_auto_field = "django.db.models.BigAutoField"
