from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import UnreadablePostError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class NotReady(exceptions.APIException):
    """409: the object exists but is not in a state for this request yet (or any more): a job
    that has not completed, tiles being built, a dataset being ingested, a finished job's cancel.
    """

    status_code = status.HTTP_409_CONFLICT
    default_code = "not_ready"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def exception_handler(exc, context):
    """DRF's handler, plus Django's own request errors as JSON 4xx instead of a 500."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.messages)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(f"the form fields are too large ({exc})")
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, UnreadablePostError):
        exc = exceptions.ParseError(f"the request body could not be read ({exc})")
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, list):
        # ValidationError("...") raised outside a serializer is a bare list; errors are objects.
        response.data = {"detail": " ".join(str(message) for message in response.data)}
    return response
