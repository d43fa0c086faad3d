from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from depth_images.services import depth_csv, ingest


class Command(BaseCommand):
    help = (
        "Import a depth CSV (depth,col1..col200) from disk into a user's dataset, replacing "
        "rows at depths the dataset already has."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path)
        parser.add_argument("--dataset", default="default", help="dataset name (default: default)")
        parser.add_argument("--user", required=True, help="username of the dataset's owner")

    def handle(self, *args, **options):
        path: Path = options["csv"]
        try:
            owner = get_user_model().objects.get(username=options["user"])
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {options['user']!r}") from None
        try:
            size = path.stat().st_size
            with path.open("rb") as handle, tqdm(total=size, unit="B", unit_scale=True) as bar:
                result = ingest.ingest_path(
                    owner,
                    options["dataset"],
                    handle,
                    progress=lambda offset: bar.update(offset - bar.n),
                )
                bar.update(size - bar.n)
        except (OSError, depth_csv.DepthCSVError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except ingest.DatasetBusy as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{path}: {result.rows_in_file} rows into {options['dataset']!r} "
            f"({result.rows_added} added, {result.rows_replaced} replaced, "
            f"{result.skipped_empty_rows} empty rows skipped)"
        )
