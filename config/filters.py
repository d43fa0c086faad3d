"""The filter backend of every list endpoint (a module of its own: DRF imports it while
it builds GenericAPIView, so it must not import DRF's generic views)."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, except that an empty value (``?status=``, ``?batch=``) is refused, not
    ignored as if the filter were left out."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            empty = {
                name: ["must not be empty; leave the parameter out to not filter"]
                for name in filterset.filters
                if request.query_params.get(name) == ""
            }
            if empty:
                raise serializers.ValidationError(empty)
        return filterset
