"""factory_boy factories; file fields come from real files, as django-large-image's tests do."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from depth_images.models import DepthDataset
from predictions.models import PredictionJob
from tests.helpers.images import blobs_image, png_bytes
from tiles.models import TiledImage


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")


class PredictionJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PredictionJob

    owner = factory.SubFactory(UserFactory)
    model_type = "watershed"
    input_image = factory.django.FileField(filename="blobs.png", data=png_bytes(blobs_image()))


class DepthDatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DepthDataset

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"core-{n}")


class TiledImageFactory(factory.django.DjangoModelFactory):
    """Pass ``file__from_path`` with a file built by ``tiles.services``."""

    class Meta:
        model = TiledImage

    job = factory.SubFactory(PredictionJobFactory)
    layer = "input"
    file = factory.django.FileField()
    built_from = factory.Sequence(lambda n: f"factory-{n}")
    dtype = "uint8"
    width = 1
    height = 1
