"""The one error type services raise when a rule is broken; views turn it into a message."""


class ServiceError(Exception):
    """A rule of the product was broken; ``message`` says which, in words for the user."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
