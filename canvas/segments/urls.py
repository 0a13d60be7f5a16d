from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("", views.segment_list, name="list"),
    path("new/", views.segment_new, name="new"),
    path("<int:segment_id>/", views.segment_detail, name="detail"),
    path("<int:segment_id>/size/", views.segment_size, name="size"),
    path("<int:segment_id>/delete/", views.segment_delete, name="delete"),
]
