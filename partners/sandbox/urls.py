"""The sandbox's paths, relative to where it is mounted: ``/sandbox/`` inside the product,
the root when standalone, so the partners' own paths follow the mount point."""

from django.urls import path, re_path

from . import consent, control_views, pinterest, tiktok

TIKTOK_API = "open_api/v1.3/"
PINTEREST_ACCOUNT = r"^v5/ad_accounts/(?P<ad_account_id>[^/]+)/"

urlpatterns = [
    # TikTok: every API path ends with "/"; anything else under open_api/ is a bare 404.
    re_path(r"^portal/auth/?$", consent.tiktok_consent),
    path(f"{TIKTOK_API}oauth2/access_token/", tiktok.access_token),
    path(f"{TIKTOK_API}oauth2/revoke_token/", tiktok.revoke_token),
    path(f"{TIKTOK_API}oauth2/advertiser/get/", tiktok.advertiser_get),
    path(f"{TIKTOK_API}segment/audience/", tiktok.segment_audience),
    path(f"{TIKTOK_API}segment/mapping/", tiktok.segment_mapping),
    path(f"{TIKTOK_API}dmp/custom_audience/list/", tiktok.custom_audience_list),
    path(f"{TIKTOK_API}dmp/custom_audience/lookalike/create/", tiktok.lookalike_create),
    re_path(r"^open_api/(?P<path>.*)$", tiktok.path_not_found),
    # Pinterest: with or without a trailing slash.
    re_path(r"^oauth/?$", consent.pinterest_consent),
    re_path(r"^v5/oauth/token/?$", pinterest.oauth_token),
    re_path(r"^v5/ad_accounts/?$", pinterest.ad_accounts),
    re_path(PINTEREST_ACCOUNT + r"customer_lists/?$", pinterest.customer_lists),
    re_path(
        PINTEREST_ACCOUNT + r"customer_lists/(?P<list_id>[^/]+)/?$", pinterest.customer_list
    ),
    re_path(PINTEREST_ACCOUNT + r"audiences/?$", pinterest.audiences),
    re_path(PINTEREST_ACCOUNT + r"audiences/(?P<audience_id>[^/]+)/?$", pinterest.audience),
    re_path(r"^v5/(?P<path>.*)$", pinterest.path_not_found),
    # The sandbox's own controls.
    path("__sandbox__/control", control_views.control_action),
    path("__sandbox__/record", control_views.record),
    path("__sandbox__/status", control_views.status),
    path(
        "__sandbox__/audiences/<str:partner>/<str:audience_id>/members",
        control_views.audience_members,
    ),
]
