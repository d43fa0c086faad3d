from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from predictions.management.reading import (
    add_reading_arguments,
    add_segmentation_arguments,
    reading,
    segmentation_options,
)
from predictions.services import batch, engines


class Command(BaseCommand):
    help = (
        "Segment images on disk. Writes DIR/<image stem>/ with masks.npy, flows.npy, "
        "segmented.png, individual_cells.zip, metrics.json and shape_analysis.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("images", nargs="+", type=Path)
        parser.add_argument("--model", default="cpsam", choices=engines.ENGINE_NAMES)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--diameter", type=float, default=None)
        defaults = engines.DEFAULTS
        parser.add_argument("--flow-threshold", type=float, default=defaults.flow_threshold)
        parser.add_argument("--cellprob-threshold", type=float, default=defaults.cellprob_threshold)
        parser.add_argument("--min-size", type=int, default=defaults.min_size)
        add_reading_arguments(parser)
        add_segmentation_arguments(parser)

    def handle(self, *args, **options):
        params = engines.SegmentationParams(
            diameter=options["diameter"] or None,
            flow_threshold=options["flow_threshold"],
            cellprob_threshold=options["cellprob_threshold"],
            min_size=options["min_size"],
        )
        failures = 0
        outcomes = batch.segment_files(
            options["images"],
            options["out"],
            options["model"],
            params,
            reading(options),
            segmentation_options(options),
        )
        try:
            for outcome in tqdm(outcomes, total=len(options["images"]), unit="image"):
                if outcome.error:
                    failures += 1
                    self.stderr.write(f"{outcome.source}: {outcome.error}")
                else:
                    tqdm.write(f"{outcome.source}: {outcome.num_cells} cells -> {outcome.output}")
        except engines.EngineUnavailable as exc:
            raise CommandError(str(exc)) from exc
        if failures:
            raise CommandError(f"{failures} of {len(options['images'])} image(s) failed")
