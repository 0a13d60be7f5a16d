"""The partners' names for any page, so that no template names a partner itself."""

from . import registry


def partner_names(request) -> dict:
    return {"partner_names": {"any": registry.names(joined_by="or"),
                              "every": registry.names(joined_by="and")}}
