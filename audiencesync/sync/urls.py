from django.urls import path

from . import views

urlpatterns = [
    path("profiles/<int:profile_id>/erase/", views.profile_erase_confirm, name="profile_erase"),
]
