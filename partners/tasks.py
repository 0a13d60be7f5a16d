"""django-q2 entry points for partners (thin: each calls one service)."""

from .services import connections_check_all


def check_connections() -> int:
    """Periodic: check every active token (and refresh Pinterest tokens past half life)."""
    return len(connections_check_all())
