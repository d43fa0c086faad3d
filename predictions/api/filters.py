"""Query parameters of the job list: filters, and an ordering that refuses unknown fields."""

from datetime import UTC, datetime

import django_filters
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from predictions.models import JobStatus, ModelType, PredictionJob

# Dates whose UTC conversion stays inside what the databases store (year 1 to 9999).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


class BoundedDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date and time; one too close to year 1 or 9999 is a 400, not an overflow."""

    def __init__(self, *args, parameter: str, **kwargs):
        self.parameter = parameter
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise ValidationError(
                {self.parameter: [f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"]}
            )
        return super().filter(qs, value)


class PredictionJobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    model_type = django_filters.ChoiceFilter(choices=ModelType.choices)
    created_after = BoundedDateTimeFilter(
        parameter="created_after",
        field_name="created_at",
        lookup_expr="gte",
        label="Created at or after (ISO 8601).",
    )
    created_before = BoundedDateTimeFilter(
        parameter="created_before",
        field_name="created_at",
        lookup_expr="lt",
        label="Created before (ISO 8601).",
    )
    batch = django_filters.UUIDFilter(field_name="batch_id", label="Jobs of this batch.")

    class Meta:
        model = PredictionJob
        fields = ["status", "model_type", "batch"]


class StrictOrderingFilter(OrderingFilter):
    """DRF's ordering, except that an unknown field is a 400 naming it, not silently ignored."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is not None:
            context = {"request": request}
            allowed = {name for name, _ in self.get_valid_fields(queryset, view, context)}
            terms = [term.strip() for term in raw.split(",")]
            unknown = [t for t in terms if t.removeprefix("-") not in allowed]
            if unknown or not any(terms):
                fields = ", ".join(sorted(allowed))
                named = ", ".join(unknown) or "(none)"
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"unknown field(s) {named}; order by {fields}, with - for descending"
                        ]
                    }
                )
        ordering = super().get_ordering(request, queryset, view)
        # Many jobs share a cell count or a completion time: the id makes pages stable.
        return [*ordering, "id"] if ordering else ordering
