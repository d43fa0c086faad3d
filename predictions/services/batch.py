"""Command-line processing of images on disk, without the database or the queue."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from predictions.services import engines, images, outputs


@dataclass(frozen=True)
class FileOutcome:
    source: Path
    output: Path | None
    num_cells: int = 0
    error: str = ""


def segment_files(
    paths: Iterable[Path],
    out_dir: Path,
    model_type: str,
    params: engines.SegmentationParams,
    max_pixels: int,
) -> Iterator[FileOutcome]:
    """Segment each image into ``out_dir/<stem>/``; a bad file is reported, not fatal."""
    engine = engines.get_engine(model_type)
    for path in paths:
        try:
            image = images.decode_image(path, max_pixels=max_pixels)
            result = engine.segment(image, params)
            summary = outputs.write_results_atomically(
                out_dir / path.stem, image, images.relabel_sequential(result.masks), result.flows
            )
        except (OSError, images.ImageError) as exc:
            yield FileOutcome(path, None, error=str(exc))
            continue
        yield FileOutcome(path, out_dir / path.stem, summary.num_cells)


def measure_file(image_path: Path, masks_path: Path, out_dir: Path, max_pixels: int) -> FileOutcome:
    image = images.decode_image(image_path, max_pixels=max_pixels)
    masks = images.decode_labels(masks_path, image.shape[:2], max_pixels=max_pixels)
    summary = outputs.write_results_atomically(out_dir / image_path.stem, image, masks, None)
    return FileOutcome(image_path, out_dir / image_path.stem, summary.num_cells)
