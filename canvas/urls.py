from django.urls import path

from . import views

app_name = "canvas"

urlpatterns = [
    path("", views.canvas_list, name="list"),
    path("<int:canvas_id>/", views.canvas_detail, name="detail"),
    path("<int:canvas_id>/entry/", views.canvas_entry_settings, name="entry_settings"),
    path("<int:canvas_id>/analytics/", views.canvas_analytics, name="analytics"),
    path("<int:canvas_id>/do/<slug:action>/", views.canvas_action, name="action"),
    path("<int:canvas_id>/steps/<int:step_id>/", views.step_edit, name="step"),
    path("<int:canvas_id>/steps/<int:step_id>/do/<slug:action>/", views.step_action,
         name="step_action"),
    path("audiences/<int:ad_account_id>/", views.ad_account_audiences, name="audiences"),
    path("audiences/<int:ad_account_id>/<int:audience_id>/delete/", views.audience_delete,
         name="audience_delete"),
    path("audiences/<int:ad_account_id>/<int:audience_id>/lookalike/", views.lookalike_create,
         name="lookalike_create"),
]
