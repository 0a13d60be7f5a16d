from django.urls import path

from . import api_key_views, profile_views, views

urlpatterns = [
    path("workspaces/new/", views.workspace_create, name="workspace_create"),
    path("workspaces/switch/", views.workspace_switch, name="workspace_switch"),
    path("settings/", views.workspace_settings, name="workspace_settings"),
    path("settings/api-keys/", api_key_views.api_keys, name="api_keys"),
    path("members/", views.members, name="members"),
    path("members/<slug:action>/", views.member_action, name="member_action"),
    path("invitations/<slug:token>/", views.invitation, name="invitation"),
    path("profiles/", profile_views.profile_list, name="profile_list"),
    path("profiles/import/", profile_views.profile_import, name="profile_import"),
    path("profiles/import-events/", profile_views.event_import, name="event_import"),
    path("profiles/import/sample-<slug:kind>.csv", profile_views.import_sample,
         name="import_sample"),
    path("profiles/attributes/", profile_views.attribute_list, name="attribute_list"),
    path("profiles/<int:profile_id>/", profile_views.profile_detail, name="profile_detail"),
]
