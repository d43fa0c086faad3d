from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication


class LocalUserAuthentication(BaseAuthentication):
    """Anonymous requests act as one local user (single-user installs only).

    Listed after token and session authentication, so a real credential still wins.
    """

    def authenticate(self, request):
        user, _ = get_user_model().objects.get_or_create(username=settings.CELLSERVE_LOCAL_USERNAME)
        return (user, None)
