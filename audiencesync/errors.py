"""The one error type services raise when a rule is broken; views turn it into a message."""


class ServiceError(Exception):
    """A rule of the product was broken; ``message`` says which, in words for the user."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class FieldErrors(ServiceError):
    """Several rules broken at once, each about one field of a form: ``errors`` maps the
    field's name to what is wrong with it, so a form shows each next to its field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()), field=next(iter(errors), None))
        self.errors = errors
