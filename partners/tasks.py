"""django-q2 entry points for partners (thin: each calls one service)."""

from .services import connection_invalid_alert, connections_check_all


def check_connections() -> int:
    """Periodic: check every active token (and refresh Pinterest tokens past half life)."""
    return len(connections_check_all())


def alert_connection_invalid(connection_id: int, message: str) -> int:
    """After a connection turned invalid: email whom it concerns, once."""
    return len(connection_invalid_alert(connection_id=connection_id, message=message))
