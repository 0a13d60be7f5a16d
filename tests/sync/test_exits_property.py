"""After any sequence of entries, exception events, stops, keeping adds, explicit removes
and engine passes, the sandbox holds exactly the people the membership records name, and
those are exactly the people something still holds there: a canvas with remove on exit
they are inside, or an add that meant "keep" with no explicit remove since."""

import itertools

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from audiencesync.sync import engine
from canvas.models import AudienceMembership, SyncAction
from canvas.services import canvases as canvas_services
from canvas.services.entry import canvas_enter_users
from canvas.services.exits import exits_due
from tests import builders

from .test_exits import email_of, journey, track
from .test_membership import account, flush_all, sync_canvas  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

PEOPLE = 3
EXAMPLES = itertools.count()
HOLDING = ("a", "b")  # two canvases: add with remove on exit -> Delay, exit on "leave_<x>"

operation = st.tuples(
    st.sampled_from(["enter_a", "enter_a", "enter_b", "leave_a", "leave_b", "stop_a",
                     "keep", "remove", "flush"]),
    st.integers(min_value=0, max_value=PEOPLE - 1),
)


@seed(16)
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=10))
def test_the_sandbox_holds_exactly_the_people_their_records_and_holders_say(
        owner, account, sandbox, settings, operations):  # noqa: F811
    settings.CANVAS_EXIT_CHUNK = 2  # a stop lets people out over several chunks
    settings.CANVAS_STOP_INLINE_SECONDS = 0
    tag = next(EXAMPLES)  # the database outlives an example: each makes its own audience
    canvases = {}
    first, _, audience = journey(owner, account, name=f"A {tag}", new_audience=f"Prop {tag}",
                                 exit_event=f"leave_a_{tag}")
    canvases["a"] = first
    canvases["b"], _, _ = journey(owner, account, name=f"B {tag}", audience=audience,
                                  exit_event=f"leave_b_{tag}")
    keeper, _, _ = journey(owner, account, name=f"Keep {tag}", audience=audience,
                           remove_on_exit=False, delay_days=0)
    remover, _, _ = sync_canvas(owner, account, name=f"Remove {tag}", audience=audience,
                                action=SyncAction.REMOVE)
    inside = {name: set() for name in HOLDING}
    held: dict[int, set[str]] = {n: set() for n in range(PEOPLE)}
    user = {n: builders.users(1, start=n)[0] for n in range(PEOPLE)}

    for name, who in operations:
        if name.startswith("enter_"):
            which = name[-1]
            canvas_enter_users(canvas=canvases[which], users=[user[who]])
            if who not in inside[which]:
                inside[which].add(who)
                held[who].add(which)
        elif name.startswith("leave_"):
            which = name[-1]
            track(owner.workspace, (f"u{who}", f"leave_{which}_{tag}", {}))
            inside[which].discard(who)
            held[who].discard(which)
        elif name == "stop_a":
            canvas_services.canvas_stop(canvas=canvases["a"])
            for person in inside["a"]:
                held[person].discard("a")
            inside["a"] = set()
            # A fresh copy takes over: same steps, same audience, same exception event.
            fresh = canvas_services.canvas_duplicate(canvas=canvases["a"], user=owner.user)
            canvases["a"] = canvas_services.canvas_launch(canvas=fresh)
        elif name == "keep":
            canvas_enter_users(canvas=keeper, users=[user[who]])
            held[who].add("keep")
        elif name == "remove":
            canvas_enter_users(canvas=remover, users=[user[who]])
            held[who] = set()
        else:
            engine.sync_flush()

    while exits_due():
        pass
    flush_all()
    recorded = {f"EMAIL_SHA256:{h['email']}" for h in AudienceMembership.objects.filter(
        audience=audience).values_list("hashes", flat=True)}
    at_partner = set(sandbox.members("tiktok", audience.external_id))
    assert at_partner == recorded
    assert at_partner == {email_of(n) for n, holders in held.items() if holders}
