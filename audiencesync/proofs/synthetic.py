"""Synthetic users with the gaps real data has."""

import hashlib
import random


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
