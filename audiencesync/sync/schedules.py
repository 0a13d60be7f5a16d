"""The periodic django-q2 schedules the product needs, written idempotently."""

from django_q.models import Schedule

# name -> (task path, minutes between runs)
SCHEDULES = {
    "Check partner connections": ("partners.tasks.check_connections", 15),
    "Sync dispatcher (restarts the chain if it broke)": ("audiencesync.sync.tasks.dispatch", 1),
    "Reconcile step counters with the outbox": ("audiencesync.sync.tasks.reconcile", 10),
    "Purge sync history past retention": ("audiencesync.sync.tasks.purge_history", 60),
    "Start scheduled canvas entries": ("canvas.tasks.scheduled_entry_tick", 1),
    "Count profiles per custom attribute": ("audiencesync.workspaces.tasks.count_attributes", 60),
    "Read audience size and health at the partners": ("canvas.tasks.read_audience_health", 30),
}


def schedules_setup() -> list[str]:
    """Create or update every schedule; returns the names written."""
    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes,
                      "repeats": -1},
        )
    return list(SCHEDULES)
