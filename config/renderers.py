"""JSON that never fails on a value: metadata read from image files holds TIFF rationals,
bytes and NaNs, which strict JSON cannot express. The fast path is DRF's own renderer; only a
document it refuses is cleaned (numbers as numbers, NaN and infinities as null, the rest as
text) and rendered again."""

from __future__ import annotations

import math
import numbers

from rest_framework.renderers import JSONRenderer


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


class TolerantJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except (TypeError, ValueError):
            return super().render(jsonable(data), accepted_media_type, renderer_context)
