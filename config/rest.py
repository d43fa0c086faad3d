from rest_framework import serializers
from rest_framework.generics import GenericAPIView


class OwnedObjectsMixin(GenericAPIView):
    """Lists and looks up only the requesting user's rows of ``owned_model``.

    Another user's row is indistinguishable from a missing one: both are 404.
    """

    owned_model = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.owned_model.objects.none()
        return self.owned_model.objects.filter(owner=self.request.user)


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
                raise serializers.ValidationError(repeated)
        return super().to_internal_value(data)


class PresentChoiceField(serializers.ChoiceField):
    """A choice whose empty form value is refused rather than read as "not given"."""

    def get_value(self, dictionary):
        if self.field_name in dictionary and dictionary[self.field_name] == "":
            return ""
        return super().get_value(dictionary)
