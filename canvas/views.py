from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.module_loading import import_string

from audiencesync.confirm import confirmation_page, is_confirmed
from audiencesync.errors import FieldErrors, ServiceError
from audiencesync.workspaces.decorators import manager_required, workspace_required
from audiencesync.workspaces.scoping import get_in_workspace_or_404
from partners import registry
from partners.base import PartnerError
from partners.models import AdAccount

from . import confirmations, selectors
from .charts import sync_chart_svg
from .forms import CanvasForm, EntrySettingsForm, LookalikeForm
from .models import Canvas, CanvasStatus
from .occurrences import occurrence_next, zone_get
from .services import audiences as audience_services
from .services import canvases as canvas_services
from .services.entry_settings import canvas_entry_settings_update, schedule_describe
from .steps import all_step_types, kinds_where, step_type


def _canvas_or_404(request, canvas_id: int):
    return get_in_workspace_or_404(request, Canvas.objects.all(), pk=canvas_id)


@workspace_required
def canvas_list(request):
    form = CanvasForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        canvas = canvas_services.canvas_create(workspace=request.workspace, user=request.user,
                                               name=form.cleaned_data["name"])
        messages.success(request, f"Canvas {canvas.name} created. Add a component to start.")
        return redirect("canvas:detail", canvas.pk)
    show = request.GET.get("show", "")
    if show not in selectors.CANVAS_LIST_FILTERS:
        show = ""
    return render(request, "canvas/list.html", {
        "canvases": selectors.canvases_for(workspace=request.workspace, show=show),
        "problems": selectors.canvas_connection_problems(workspace=request.workspace),
        "form": form, "show": show, "filters": selectors.CANVAS_LIST_FILTERS.items(),
    })


@workspace_required
def canvas_detail(request, canvas_id: int):
    return _detail_page(request, _canvas_or_404(request, canvas_id))


def _detail_page(request, canvas: Canvas, entry_form: EntrySettingsForm | None = None):
    steps = list(canvas.steps.select_related("ad_account", "audience").order_by("position"))
    problems = selectors.canvas_connection_problems(workspace=request.workspace)
    zone = zone_get(request.workspace.time_zone)
    return render(request, "canvas/detail.html", {
        "canvas": canvas, "steps": steps, "banners": problems.get(canvas.pk, []),
        "launch_problems": [problem if isinstance(problem, list) else [None, problem]
                            for problem in request.session.pop(f"launch-problems-{canvas.pk}", [])],
        "metrics": {m.step.pk: m for m in selectors.step_metrics(
            steps=[s for s in steps if step_type(s.kind).counters])},
        "step_types": all_step_types(),
        "waiting": selectors.canvas_funnel(canvas=canvas).waiting,
        "entry_form": entry_form or EntrySettingsForm(initial=EntrySettingsForm.initial_of(canvas),
                                                      workspace=request.workspace),
        "schedule": schedule_describe(canvas=canvas),
        "next_run": occurrence_next(canvas=canvas, zone=zone, after=timezone.now()),
        "runs": selectors.scheduled_runs_recent(canvas=canvas),
        "zone": zone,
    }, status=400 if entry_form is not None else 200)


@workspace_required
def canvas_entry_settings(request, canvas_id: int):
    """The entry settings section's save (a plain form POST, or htmx)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    canvas = _canvas_or_404(request, canvas_id)
    form = EntrySettingsForm(request.POST, workspace=request.workspace)
    if not form.is_valid():
        messages.error(request, "The entry settings were not saved: see the fields marked.")
        return _detail_page(request, canvas, entry_form=form)
    try:
        canvas_entry_settings_update(canvas=canvas, settings=form.entry_settings())
    except ServiceError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        messages.error(request, "The entry settings were not saved: see the fields marked.")
        return _detail_page(request, canvas, entry_form=form)
    messages.success(request, "Entry settings saved.")
    return redirect("canvas:detail", canvas.pk)


# Actions that cannot be taken back: a GET, or a POST without the confirmation, shows what
# they will do instead of doing it.
CANVAS_CONFIRMATIONS = {"stop": confirmations.canvas_stop, "enter-all": confirmations.canvas_enter_all,
                        "delete": confirmations.canvas_delete}


@workspace_required
def canvas_action(request, canvas_id: int, action: str):
    if request.method != "POST" and action not in CANVAS_CONFIRMATIONS:
        return HttpResponseNotAllowed(["POST"])
    canvas = _canvas_or_404(request, canvas_id)
    try:
        if action in CANVAS_CONFIRMATIONS and not is_confirmed(request):
            return confirmation_page(request, CANVAS_CONFIRMATIONS[action](canvas=canvas))
        adding = {kind.add_action: kind.kind for kind in all_step_types()}  # "add-delay", ...
        if action in adding:
            step = canvas_services.step_add(canvas=canvas, kind=adding[action],
                                            position=_int_or_none(request.POST.get("position")))
            return redirect("canvas:step", canvas.pk, step.pk)
        if action == "launch":
            problems = canvas_services.canvas_launch_problems_located(canvas=canvas)
            if problems:
                request.session[f"launch-problems-{canvas.pk}"] = problems
                messages.error(request, "The canvas was not launched.")
            else:
                canvas_services.canvas_launch(canvas=canvas)
                messages.success(request, f"{canvas.name} launched: it now takes entries.")
        elif action == "stop":
            canvas_services.canvas_stop(canvas=canvas)
            messages.success(request, f"{canvas.name} stopped. Pending syncs still finish.")
        elif action == "duplicate":
            copy = canvas_services.canvas_duplicate(canvas=canvas, user=request.user)
            messages.success(request, f"Duplicated as the draft {copy.name}.")
            return redirect("canvas:detail", copy.pk)
        elif action == "rename":
            canvas_services.canvas_rename(canvas=canvas, name=request.POST.get("name", ""))
            messages.success(request, f"Renamed to {canvas.name}.")
        elif action == "archive":
            canvas_services.canvas_archive(canvas=canvas)
            messages.success(request, f"{canvas.name} archived: it is listed under Archived, "
                                      "with its analytics.")
            return redirect("canvas:list")
        elif action == "unarchive":
            canvas_services.canvas_unarchive(canvas=canvas)
            messages.success(request, f"{canvas.name} is back in the canvas list.")
        elif action == "delete":
            canvas_services.canvas_delete(canvas=canvas)
            messages.success(request, f"Draft {canvas.name} deleted.")
            return redirect("canvas:list")
        elif action == "enter-all":
            canvas_services.canvas_enter_all(canvas=canvas)
            messages.success(request, "Entering every profile of the workspace in the "
                                      "background. Watch the analytics.")
        else:
            raise Http404("Unknown action.")
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("canvas:detail", canvas.pk)


def _step_or_404(request, canvas_id: int, step_id: int):
    canvas = _canvas_or_404(request, canvas_id)
    return canvas, get_object_or_404(canvas.steps.select_related("ad_account__connection",
                                                                 "audience"), pk=step_id)


@workspace_required
def step_action(request, canvas_id: int, step_id: int, action: str):
    if request.method != "POST" and action != "remove":
        return HttpResponseNotAllowed(["POST"])
    canvas, step = _step_or_404(request, canvas_id, step_id)
    try:
        if action == "remove":
            if not is_confirmed(request):
                return confirmation_page(request, confirmations.step_remove(canvas=canvas, step=step))
            canvas_services.step_remove(step=step)
            messages.success(request, "Step removed.")
        elif action in ("up", "down"):
            canvas_services.step_move(step=step, offset=-1 if action == "up" else 1)
        else:
            raise Http404("Unknown action.")
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("canvas:detail", canvas.pk)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@workspace_required
def step_edit(request, canvas_id: int, step_id: int):
    """The step's editor, as its kind declares it: template, form, and the service it calls."""
    canvas, step = _step_or_404(request, canvas_id, step_id)
    kind = step_type(step.kind)
    editor = kind.editor
    form = import_string(editor.form)(
        request.POST if request.method == "POST" else None,
        initial={name: getattr(step, name) for name in kind.fields})
    # "refresh": the form changed a choice others depend on (htmx sends it as it changes; a
    # page without scripts has a button): show the new choices, keep every value, save nothing.
    refresh = request.POST.get("do") == "refresh" or request.POST.get("reload") == "1"
    if request.method == "POST" and form.is_valid() and not refresh:
        try:
            message = import_string(editor.save)(step=step, user=request.user,
                                                 **form.cleaned_data)
        except FieldErrors as errors:
            for field, text in errors.errors.items():
                form.add_error(field if field in form.fields else None, text)
        except (ServiceError, PartnerError) as error:
            prefix = "The partner answered: " if isinstance(error, PartnerError) else ""
            field = getattr(error, "field", None)
            form.add_error(field if field in form.fields else None, prefix + error.message)
        else:
            if message:
                messages.success(request, message)
            return redirect(request.path) if editor.stay else redirect("canvas:detail", canvas.pk)
        step.refresh_from_db()  # what a failed save may have changed on the object in hand
    return render(request, editor.template, {
        "canvas": canvas, "step": step, "form": form,
        **kind.editor_context(request=request, canvas=canvas, step=step, form=form),
    })


@workspace_required
def canvas_analytics(request, canvas_id: int):
    canvas = _canvas_or_404(request, canvas_id)
    steps = list(canvas.steps.filter(kind__in=kinds_where(lambda kind: kind.counters))
                 .select_related("audience").order_by("position"))
    time_range = selectors.TIME_RANGES.get(request.GET.get("range", ""),
                                           selectors.TIME_RANGES[selectors.DEFAULT_TIME_RANGE])
    charts = {step.pk: sync_chart_svg(selectors.step_series_over(step=step, time_range=time_range),
                                      unit=time_range.unit)
              for step in steps}
    metrics = selectors.step_metrics(steps=steps)
    funnel = selectors.canvas_funnel(canvas=canvas)
    by_step = {m.step.pk: m for m in metrics}
    funnel_rows = [(step, by_step.get(step.pk),
                    funnel.waiting.get(step.pk, 0) if step_type(step.kind).waits else None)
                   for step in canvas.steps.select_related("audience").order_by("position")]
    return render(request, "canvas/analytics.html", {
        "canvas": canvas, "metrics": metrics, "charts": charts,
        "funnel": funnel, "funnel_rows": funnel_rows,
        "time_range": time_range, "time_ranges": selectors.TIME_RANGES.values(),
        "consent_removals": selectors.consent_removals(canvas=canvas),
        "retention_days": settings.SYNC_ITEM_RETENTION_DAYS,
        "banners": selectors.canvas_connection_problems(workspace=request.workspace).get(
            canvas.pk, []),
        "refresh": canvas.status == CanvasStatus.ACTIVE or any(m.pending for m in metrics),
    })


def _ad_account_or_404(request, ad_account_id: int):
    return get_in_workspace_or_404(request, AdAccount.objects.select_related("connection"),
                                   workspace_field="connection__workspace", pk=ad_account_id)


@manager_required
def ad_account_audiences(request, ad_account_id: int):
    account = _ad_account_or_404(request, ad_account_id)
    if request.method == "POST":  # the form of a page from before deleting asked first
        return audience_delete(request, account.pk, _int_or_none(request.POST.get("audience")))
    return render(request, "canvas/audiences.html", {
        "account": account, "partner": registry.get(account.connection.partner),
        "audiences": selectors.audiences_created_here(ad_account=account),
    })


@manager_required
def audience_delete(request, ad_account_id: int, audience_id: int | None):
    account = _ad_account_or_404(request, ad_account_id)
    audience = get_object_or_404(account.audiences, pk=audience_id)
    if not is_confirmed(request):
        return confirmation_page(request, confirmations.audience_delete(audience=audience))
    try:
        canvas_services.audience_delete(audience=audience)
        messages.success(request, f"{audience.name} deleted at the partner.")
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("canvas:audiences", account.pk)


@manager_required
def lookalike_create(request, ad_account_id: int, audience_id: int):
    account = _ad_account_or_404(request, ad_account_id)
    seed = get_object_or_404(account.audiences, pk=audience_id, created_here=True,
                             lookalike_of__isnull=True)
    partner = registry.get(account.connection.partner)
    form = LookalikeForm(request.POST or None, options=partner.lookalike_options,
                         initial_name=f"Look-alike of {seed.name}"[:255])
    if request.method == "POST" and form.is_valid():
        try:
            lookalike = audience_services.lookalike_create(
                audience=seed, name=form.cleaned_data["name"], user=request.user,
                options={name: str(value) for name, value in form.cleaned_data.items()})
        except ServiceError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"{partner.name} is building the look-alike "
                                      f"{lookalike.name} (24-48 hours). It takes no users, so "
                                      "no canvas syncs to it.")
            return redirect("canvas:audiences", account.pk)
    return render(request, "canvas/lookalike.html", {
        "account": account, "partner": partner, "seed": seed, "form": form})
