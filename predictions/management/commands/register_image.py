from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from predictions.api.serializers import PredictionJobRegisterSerializer
from predictions.services import engines, jobs, limits


class Command(BaseCommand):
    help = (
        "Queue a job on an image already on this machine (any path: a slide need not travel "
        "through HTTP). Takes the API's parameters; prints the job id."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="path of the image")
        parser.add_argument("--owner", required=True, help="username of the job's owner")
        parser.add_argument("--model", default="cpsam", choices=engines.ENGINE_NAMES)
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="any parameter of POST predictions/ (diameter=30, tiled=true, channels=0,1)",
        )

    def handle(self, *args, **options):
        owner = get_user_model().objects.filter(username=options["owner"]).first()
        if owner is None:
            raise CommandError(f"no user is named {options['owner']!r}")
        data = {"source": options["source"], "model_type": options["model"]}
        known = PredictionJobRegisterSerializer().fields
        for item in options["param"]:
            name, sep, value = item.partition("=")
            if not sep or name not in known:
                raise CommandError(f"--param {item!r}: write NAME=VALUE with a job parameter")
            data[name] = value
        serializer = PredictionJobRegisterSerializer(data=data, context={"roots": None})
        try:
            self._register(serializer, owner)
        finally:
            serializer.close_source()

    def _register(self, serializer: PredictionJobRegisterSerializer, owner) -> None:
        if not serializer.is_valid():
            problems = "; ".join(
                f"{k}: {' '.join(map(str, v))}" for k, v in serializer.errors.items()
            )
            raise CommandError(problems)
        image = serializer.validated_data["image"]
        try:
            with transaction.atomic():
                limits.check_new_job(owner, image.file.size)
                job = jobs.create_job(owner, image, serializer.to_job_request())
        except limits.LimitExceeded as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(job.pk))
