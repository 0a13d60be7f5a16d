"""Synthetic users with the gaps real data has."""

import hashlib
import random
from datetime import datetime, timedelta


def synthetic_users(count: int, *, seed: int = 7, prefix: str = "demo") -> list[dict]:
    """About 5 % without any identifier, 3 % invalid phones, 5 % pre-hashed emails,
    3 % without ad-tracking consent; the rest email + phone (+ a mobile ad id for some)."""
    rng = random.Random(seed)
    users = []
    for i in range(count):
        user = {"external_id": f"{prefix}-{i}"}
        roll = rng.random()
        if roll < 0.05:
            users.append(user)
            continue
        email = f"{prefix}.user{i}@example.com"
        user["email"] = hashlib.sha256(email.encode()).hexdigest() if roll < 0.10 else email
        user["phone"] = "12345" if roll < 0.13 else f"+1415555{i % 10000:04d}"
        if rng.random() < 0.03:
            user["ad_tracking_enabled"] = False
        if rng.random() < 0.3:
            user["idfa"] = f"{rng.getrandbits(128):032x}"
            user["idfa"] = "-".join((user["idfa"][:8], user["idfa"][8:12], user["idfa"][12:16],
                                     user["idfa"][16:20], user["idfa"][20:]))
        users.append(user)
    return users


EVENT_NAMES = ("purchase", "cart_abandoned", "app_open")
PLANS = ("free", "plus", "pro")


def synthetic_activity(users: list[dict], *, now: datetime, seed: int = 7
                       ) -> tuple[list[dict], list[dict]]:
    """Track API items for the users: a ``lifetime_spend`` (number) and ``plan`` (string)
    attribute each, and 0 to 4 events of the last week among ``purchase`` (with the sku and
    amount), ``cart_abandoned`` (items and value) and ``app_open`` (platform). Half the
    users spent up to 1,200 before this week, which ``lifetime_spend`` includes."""
    rng = random.Random(seed)
    # Its own generator, so that the events are the same with or without the history.
    history = random.Random(seed + 1)
    attributes, events = [], []
    for user in users:
        external_id = user["external_id"]
        spend = round(history.uniform(0, 1200), 2) if history.random() < 0.5 else 0.0
        for _ in range(rng.randrange(5)):
            name = rng.choice(EVENT_NAMES)
            when = now - timedelta(minutes=rng.randrange(1, 7 * 24 * 60))
            if name == "purchase":
                amount = round(rng.uniform(5, 200), 2)
                spend += amount
                properties = {"sku": f"SKU-{rng.randrange(100):03d}", "amount": amount}
            elif name == "cart_abandoned":
                properties = {"items": rng.randrange(1, 6),
                              "value": round(rng.uniform(10, 300), 2)}
            else:
                properties = {"platform": rng.choice(("ios", "android", "web"))}
            events.append({"external_id": external_id, "name": name,
                           "time": when.isoformat().replace("+00:00", "Z"),
                           "properties": properties})
        attributes.append({"external_id": external_id, "lifetime_spend": round(spend, 2),
                           "plan": rng.choice(PLANS)})
    return attributes, events
