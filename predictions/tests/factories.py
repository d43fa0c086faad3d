import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from conftest import blobs_image, png_bytes
from predictions.models import PredictionJob


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")


class PredictionJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PredictionJob

    owner = factory.SubFactory(UserFactory)
    model_type = "watershed"
    input_image = factory.LazyFunction(
        lambda: ContentFile(png_bytes(blobs_image()), name="blobs.png")
    )
