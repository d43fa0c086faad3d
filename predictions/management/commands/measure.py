from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.management.reading import add_reading_arguments, reading
from predictions.services import batch, images


class Command(BaseCommand):
    help = (
        "Measure masks made elsewhere. Writes DIR/<image stem>/ with masks.npy, segmented.png, "
        "individual_cells.zip, metrics.json and shape_analysis.json (no flows)."
    )

    def add_arguments(self, parser):
        parser.add_argument("image", type=Path)
        parser.add_argument("masks", type=Path)
        parser.add_argument("--out", required=True, type=Path)
        add_reading_arguments(parser)

    def handle(self, *args, **options):
        with tqdm(total=1, unit="image") as progress:
            try:
                outcome = batch.measure_file(
                    options["image"],
                    options["masks"],
                    options["out"],
                    reading(options),
                )
            except (OSError, images.ImageError) as exc:
                raise CommandError(str(exc)) from exc
            progress.update(1)
        self.stdout.write(f"{outcome.source}: {outcome.num_cells} cells -> {outcome.output}")
