"""The OpenAPI schema says every answer an operation can give.

Views document their successes (and errors with a meaning of their own, such as 409 "not
ready"); this hook adds the errors any operation can return, from DRF, the upload handler
and config.middleware, and makes every error a JSON ``Error``, whatever the operation's
success type (a tile is a PNG, its 400 is still JSON).
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` holds a message; a field's name holds that field's messages.",
    "additionalProperties": True,
}
COMMON_ERRORS = {
    "400": "A parameter or the body is invalid; the answer names it.",
    "401": "No credentials, or invalid ones.",
    "403": "Not allowed, or over the storage quota.",
    "404": "No such object, or not yours.",
    "405": "The method is not allowed here.",
    "406": "The Accept header asks for a type this endpoint cannot produce.",
    "413": "The body, or one uploaded file, is larger than the limit.",
    "414": "The query string is longer than the limit.",
    "415": "The body's Content-Type is not one this endpoint reads.",
    "429": "Too many requests, or too many jobs running: retry after Retry-After seconds.",
    "431": "The request headers are larger than the limit.",
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in COMMON_ERRORS.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    response["content"] = error
            responses["429"]["headers"] = RETRY_AFTER
    return result
