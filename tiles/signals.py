"""Queue tile builds when a job's input arrives or its results do, and when a depth dataset
has new rows; delete a tile file with its row. Receivers live here so that predictions and
depth_images need not know about tiles.
"""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from depth_images.models import DatasetStatus, DepthDataset
from predictions.models import PredictionJob
from predictions.signals import job_completed
from tiles.models import TiledImage


def _queue_job(job_id) -> None:
    from tiles.tasks import build_job_tiles

    transaction.on_commit(lambda: build_job_tiles.delay(str(job_id)))


@receiver(post_save, sender=PredictionJob, dispatch_uid="tiles_job_created")
def queue_input_tiles(sender, instance: PredictionJob, created: bool, **kwargs) -> None:
    if created:
        _queue_job(instance.pk)


@receiver(job_completed, dispatch_uid="tiles_job_completed")
def queue_result_tiles(sender, job_id, **kwargs) -> None:
    _queue_job(job_id)


@receiver(post_save, sender=DepthDataset, dispatch_uid="tiles_dataset_saved")
def queue_dataset_tiles(sender, instance: DepthDataset, **kwargs) -> None:
    if instance.status == DatasetStatus.READY and instance.row_count:
        from tiles.tasks import build_dataset_tiles

        dataset_id = str(instance.pk)
        transaction.on_commit(lambda: build_dataset_tiles.delay(dataset_id))


@receiver(post_delete, sender=TiledImage, dispatch_uid="tiles_file_deleted")
def delete_tile_file(sender, instance: TiledImage, **kwargs) -> None:
    if instance.file:
        storage, name = instance.file.storage, instance.file.name
        transaction.on_commit(lambda: storage.delete(name))
