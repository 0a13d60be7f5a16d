"""Sign in and connect a partner through the product's pages, as a person would."""

from __future__ import annotations

from partners import registry

from .browser import Browser


def sign_in(*, browser: Browser, site_url: str, email: str, password: str) -> None:
    page = browser.get(f"{site_url}/accounts/login/")
    landed = browser.submit(page, button="Sign In", fill={"login": email, "password": password})
    if "/accounts/login/" in landed.url:
        raise RuntimeError(f"Signing in as {email} failed at {site_url}.")


def partner_connect(*, browser: Browser, site_url: str, partner_key: str) -> list[str]:
    """Connect -> consent page (approved) -> callback -> choose every ad account.

    Returns the URLs walked through, for the record.
    """
    name = registry.get(partner_key).name
    page = browser.get(f"{site_url}/partners/{partner_key}/")
    consent = browser.submit(page, button=f"Connect {name}")
    walked = [r.url for r in consent.history] + [consent.url]
    chooser = browser.submit(consent, button="Confirm")
    walked += [r.url for r in chooser.history] + [chooser.url]
    if "/accounts/" not in chooser.url:
        raise RuntimeError(f"Connecting {name} did not reach the ad-account choice: {chooser.url}")
    done = browser.submit(chooser, button="Save selection", check_all="ad_account")
    walked.append(done.url)
    return walked
