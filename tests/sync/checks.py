"""Assertions shared by the operator and privacy tests."""

from canvas.models import ItemPurpose, ItemState, SyncItem
from canvas.selectors import step_metrics


def metrics(step):
    return step_metrics(steps=[step])[0]


def assert_conserved(step):
    """Counters agree with the step's journey items, and entered = synced + not_synced +
    pending + errored (erasure removes are no journey event and count nowhere)."""
    m = metrics(step)
    items = SyncItem.objects.filter(step=step, purpose=ItemPurpose.JOURNEY)
    counted = {state: items.filter(state=state).count() for state in ItemState.values}
    assert m.entered == items.count()
    assert (m.synced, m.not_synced, m.pending, m.errored) == (
        counted["synced"], counted["not_synced"], counted["pending"], counted["errored"])
    assert m.entered == m.synced + m.not_synced + m.pending + m.errored
