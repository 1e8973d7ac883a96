"""Base errors for the whole platform; each domain subclasses these, and only web/ maps them to HTTP."""


class EldercareError(Exception):
    """A domain error with a machine-readable code and a human message."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFoundError(EldercareError):
    code = "not_found"


class ConflictError(EldercareError):
    code = "conflict"


class ValidationFailed(EldercareError):
    code = "invalid"


class PermissionDenied(EldercareError):
    code = "forbidden"


class Unavailable(EldercareError):
    """A server the change depends on (the broker, ...) did not take it; nothing was changed. Retry later."""

    code = "unavailable"
