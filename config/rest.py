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
