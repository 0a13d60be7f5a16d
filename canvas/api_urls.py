from django.urls import path

from . import api

urlpatterns = [
    path("canvases/<int:canvas_id>/entries", api.canvas_entries, name="api_canvas_entries"),
    path("users/track", api.users_track, name="api_users_track"),
]
