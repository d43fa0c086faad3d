from django.db.models import Model
from rest_framework import serializers
from rest_framework.generics import GenericAPIView

from config.ownership import readable

# Primary keys are UUIDs; anything else in their place is an unrouted path (a JSON 404).
UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


class OwnedObjectsMixin(GenericAPIView):
    """Lists and looks up only the rows of ``owned_model`` the requester may read
    (``config.ownership``); another user's row is a 404, like a missing one.
    """

    owned_model: type[Model]
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.owned_model._default_manager.none()
        return readable(self.owned_model, self.request.user)


class SingleValuedFormSerializer(serializers.Serializer):
    """A form or multipart body in which each field appears once.

    HTML forms allow a name to repeat, and DRF silently keeps the last value: two
    ``input_image`` files would quietly lose one.
    """

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            repeated = {
                name: [f"given {count} times; send it once"]
                for name in self.fields
                if (count := len(data.getlist(name))) > 1
            }
            if repeated:
                raise serializers.ValidationError(repeated)  # type: ignore[arg-type]  # drf-stubs: iterating a BindingDict yields names, typed as Field
        return super().to_internal_value(data)


class PresentChoiceField(serializers.ChoiceField):
    """A choice whose empty form value is refused rather than read as "not given"."""

    def get_value(self, dictionary):
        if self.field_name in dictionary and dictionary[self.field_name] == "":
            return ""
        return super().get_value(dictionary)


class NoEmptyValuesSerializer(serializers.Serializer):
    """Query parameters: one given empty (``?source=``) is refused, not read as absent."""

    def to_internal_value(self, data):
        if hasattr(data, "get"):
            empty = {
                name: ["must not be empty; leave the parameter out instead"]
                for name in self.fields
                if data.get(name) == ""
            }
            if empty:
                raise serializers.ValidationError(empty)  # type: ignore[arg-type]  # drf-stubs: iterating a BindingDict yields names, typed as Field
        return super().to_internal_value(data)
