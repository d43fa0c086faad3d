from pathlib import Path
from typing import cast

from django.db.models.fields.files import FieldFile
from django_large_image.utilities import field_file_to_local_path


def local_path(field: FieldFile) -> Path:
    """The file's own path on a filesystem storage; a cached local copy on any other.

    django-large-image's helper alone would link filesystem files into a cache keyed by row
    id, which goes stale when ids are reused (a new database) or files are replaced.
    """
    try:
        return Path(field.path)
    except NotImplementedError:
        return cast(Path, field_file_to_local_path(field))
