from django.urls import path

from . import api

urlpatterns = [
    path("canvases/<int:canvas_id>/entries", api.canvas_entries, name="api_canvas_entries"),
]
