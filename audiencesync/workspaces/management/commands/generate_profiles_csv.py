import csv
import random
import sys
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

_PLANS = ("free", "plus", "pro")
_CITIES = ("Tokyo", "Osaka", "San Francisco", "London", "Paris", "São Paulo")


class Command(BaseCommand):
    help = (
        "Write a CSV of made-up profiles for import_profiles, to try the import or measure "
        "its speed. The same --seed writes the same file. About --unusable-share of the "
        "rows carry an email, phone or advertising id a partner cannot use."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="OUT.csv")
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--unusable-share", type=float, default=0.01)
        parser.add_argument("--overwrite", action="store_true",
                            help="Replace OUT.csv if it exists.")

    def handle(self, *args, file: str, rows: int, seed: int, unusable_share: float,
               overwrite: bool, **options):
        path = Path(file)
        if path.exists() and not overwrite:
            raise CommandError(f"{file} exists; pass --overwrite to replace it.")
        rng = random.Random(seed)
        try:
            out = path.open("w", encoding="utf-8", newline="")
        except OSError as error:
            raise CommandError(f"Cannot write {file}: {error.strerror}.") from None
        with out:
            writer = csv.writer(out)
            writer.writerow(["external_id", "email", "phone", "idfa", "gaid",
                             "ad_tracking_enabled", "plan", "city"])
            for number in tqdm(range(rows), unit=" rows", file=sys.stderr, disable=None):
                writer.writerow(profile_row(rng, number, unusable=rng.random() < unusable_share))
        self.stdout.write(f"Wrote {rows:,} profiles to {file}.")


def profile_row(rng: random.Random, number: int, *, unusable: bool) -> list[str]:
    subscriber = f"{rng.randrange(2, 10)}{rng.randrange(10**5, 10**6)}"
    # Half the phones are national, to be read with the workspace's default country (US).
    phone = f"+1 415 {subscriber}" if number % 2 else f"(415) {subscriber[:3]}-{subscriber[3:]}"
    email = f"Customer.{number}+news@Example.com"
    idfa = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
    if unusable:
        email, phone, idfa = f"customer{number}-at-example.com", "555-0100", "not-an-idfa"
    return [
        f"user-{number:08d}",
        email,
        phone,
        idfa,
        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        rng.choice(("true", "false", "")),
        rng.choice(_PLANS),
        rng.choice(_CITIES) if number % 3 else "",
    ]
