from django.core.management.base import BaseCommand, CommandError

from predictions.services import retention


class Command(BaseCommand):
    help = (
        "Delete finished jobs (completed, failed or cancelled) that ended longer ago than "
        "--older-than, with all their files. Running jobs are never purged."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="an age: 30d, 12h or 90m")
        parser.add_argument("--dry-run", action="store_true", help="count the jobs, delete nothing")

    def handle(self, *args, older_than: str, dry_run: bool, **options):
        try:
            before = retention.ended_before(retention.parse_age(older_than))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if dry_run:
            count = retention.expired_jobs(before).count()
            self.stdout.write(f"{count} job(s) ended before {before:%Y-%m-%d %H:%M} UTC")
            return
        count = retention.purge(before)
        self.stdout.write(f"deleted {count} job(s) that ended before {before:%Y-%m-%d %H:%M} UTC")
