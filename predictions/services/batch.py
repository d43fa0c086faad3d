"""Command-line processing of images on disk, without the database or the queue.

The same reading and segmentation options as the API, checked by the same services.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from predictions.services import axes, engines, images, options, outputs


@dataclass(frozen=True)
class FileOutcome:
    source: Path
    output: Path | None
    num_cells: int = 0
    error: str = ""


@dataclass(frozen=True)
class Reading:
    """How to read every file of a run, and the limits that apply."""

    max_pixels: int
    max_channels: int
    request: axes.AxesRequest = field(default_factory=axes.AxesRequest)

    def read(self, path: Path) -> images.Canonical:
        return images.read_image(
            path, max_pixels=self.max_pixels, max_channels=self.max_channels, request=self.request
        )


def segment_files(
    paths: Iterable[Path],
    out_dir: Path,
    model_type: str,
    params: engines.SegmentationParams,
    reading: Reading,
    given: options.Options | None = None,
) -> Iterator[FileOutcome]:
    """Segment each image into ``out_dir/<stem>/``; a bad file is reported, not fatal."""
    engine = engines.get_engine(model_type)
    for path in paths:
        try:
            image = reading.read(path)
            plan = options.resolve(image.layout, model_type, given or options.Options(), params)
            result = engine.segment(image.select(plan.channels), plan.params)
            summary = outputs.write_results_atomically(
                out_dir / path.stem,
                image.array,
                images.relabel_sequential(result.masks),
                result.flows,
                outputs.about(image),
            )
        except (OSError, images.ImageError) as exc:
            yield FileOutcome(path, None, error=str(exc))
            continue
        except axes.AxesError as exc:
            yield FileOutcome(path, None, error=f"{exc.param}: {exc}")
            continue
        yield FileOutcome(path, out_dir / path.stem, summary.num_cells)


def measure_file(
    image_path: Path, masks_path: Path, out_dir: Path, reading: Reading
) -> FileOutcome:
    image = reading.read(image_path)
    masks = images.decode_labels(masks_path, image.spatial_shape, max_pixels=reading.max_pixels)
    summary = outputs.write_results_atomically(
        out_dir / image_path.stem, image.array, masks, None, outputs.about(image)
    )
    return FileOutcome(image_path, out_dir / image_path.stem, summary.num_cells)
