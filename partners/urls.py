from django.urls import path

from . import views

app_name = "partners"

urlpatterns = [
    path("", views.partner_list, name="list"),
    path("<slug:partner_key>/", views.partner_detail, name="detail"),
    path("<slug:partner_key>/connect/", views.partner_connect, name="connect"),
    path("<slug:partner_key>/callback/", views.partner_callback, name="callback"),
    path("<slug:partner_key>/accounts/", views.partner_accounts, name="accounts"),
    path("<slug:partner_key>/check/", views.partner_check, name="check"),
    path("<slug:partner_key>/disconnect/", views.partner_disconnect, name="disconnect"),
]
