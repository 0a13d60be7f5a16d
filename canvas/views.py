from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django_q.tasks import async_task

from audiencesync.confirm import confirmation_page, is_confirmed
from audiencesync.errors import ServiceError
from audiencesync.workspaces.decorators import manager_required, workspace_required
from audiencesync.workspaces.scoping import get_in_workspace_or_404
from partners import registry
from partners.base import PartnerError
from partners.models import AdAccount
from partners.selectors import ad_accounts_selectable
from partners.services import partner_audiences_fetch

from . import confirmations, selectors
from .charts import sync_chart_svg
from .forms import CanvasForm, DelayForm
from .models import Canvas, CanvasStatus, StepKind, SyncAction
from .services import canvases as canvas_services
from .services.audiences import audience_choose_for_step


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
    return render(request, "canvas/list.html", {
        "canvases": selectors.canvases_for(workspace=request.workspace),
        "problems": selectors.canvas_connection_problems(workspace=request.workspace),
        "form": form,
    })


@workspace_required
def canvas_detail(request, canvas_id: int):
    canvas = _canvas_or_404(request, canvas_id)
    steps = list(canvas.steps.select_related("ad_account", "audience").order_by("position"))
    problems = selectors.canvas_connection_problems(workspace=request.workspace)
    return render(request, "canvas/detail.html", {
        "canvas": canvas, "steps": steps, "banners": problems.get(canvas.pk, []),
        "launch_problems": request.session.pop(f"launch-problems-{canvas.pk}", []),
        "metrics": {m.step.pk: m for m in selectors.step_metrics(
            steps=[s for s in steps if s.is_sync])},
    })


# Actions that cannot be taken back: a GET, or a POST without the confirmation, shows what
# they will do instead of doing it.
CANVAS_CONFIRMATIONS = {"stop": confirmations.canvas_stop, "enter-all": confirmations.canvas_enter_all}


@workspace_required
def canvas_action(request, canvas_id: int, action: str):
    if request.method != "POST" and action not in CANVAS_CONFIRMATIONS:
        return HttpResponseNotAllowed(["POST"])
    canvas = _canvas_or_404(request, canvas_id)
    try:
        if action in CANVAS_CONFIRMATIONS and not is_confirmed(request):
            return confirmation_page(request, CANVAS_CONFIRMATIONS[action](canvas=canvas))
        if action in ("add-audience-sync", "add-delay"):
            kind = StepKind.AUDIENCE_SYNC if action == "add-audience-sync" else StepKind.DELAY
            step = canvas_services.step_add(canvas=canvas, kind=kind)
            return redirect("canvas:step", canvas.pk, step.pk)
        if action == "launch":
            problems = canvas_services.canvas_launch_problems(canvas=canvas)
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
        elif action == "enter-all":
            if canvas.status != CanvasStatus.ACTIVE:
                raise ServiceError("Only an active canvas takes entries.")
            async_task("canvas.tasks.enter_all_profiles", canvas.pk,
                       task_name=f"enter all profiles into canvas {canvas.pk}")
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
    canvas, step = _step_or_404(request, canvas_id, step_id)
    if step.kind == StepKind.DELAY:
        return _delay_edit(request, canvas, step)
    if request.method == "POST":
        try:
            _sync_step_post(request, step)
        except (ServiceError, PartnerError) as error:
            prefix = "The partner answered: " if isinstance(error, PartnerError) else ""
            messages.error(request, prefix + error.message)
            return redirect(request.get_full_path())  # back to the form that failed
        return redirect(request.path)
    return render(request, "canvas/step_sync.html", _sync_step_context(request, canvas, step))


def _sync_step_post(request, step) -> None:
    post = request.POST
    if post.get("do") == "choose-partner":
        canvas_services.step_update_sync(
            step=step, partner_key=post.get("partner", ""), ad_account_id=None, audience_id=None,
            action=SyncAction.ADD, match_fields=[], respect_ad_tracking=step.respect_ad_tracking)
        return
    if post.get("do") == "choose-ad-account":
        canvas_services.step_update_sync(
            step=step, partner_key=step.partner, ad_account_id=_int_or_none(post.get("ad_account")),
            audience_id=None, action=step.action, match_fields=step.match_fields,
            respect_ad_tracking=step.respect_ad_tracking)
        return
    match_fields = post.getlist("match_fields")
    respect = post.get("respect_ad_tracking") == "on"
    if post.get("do") == "create-audience":
        canvas_services.step_update_sync(
            step=step, partner_key=step.partner, ad_account_id=step.ad_account_id,
            audience_id=None, action=SyncAction.ADD, match_fields=match_fields,
            respect_ad_tracking=respect)
        audience = canvas_services.audience_create(step=step, name=post.get("name", ""),
                                                   match_fields=match_fields, user=request.user)
        partner = registry.get(step.partner)
        if audience.external_id:
            messages.success(request, f"Audience {audience.name!r} was created at {partner.name} "
                                      f"(id {audience.external_id}).")
        else:
            messages.success(request, f"Audience {audience.name!r} was recorded: {partner.name} "
                                      "creates it with the first users this step sends.")
        return
    if post.get("do") == "use-existing":
        audience_id = step.audience_id
        chosen = post.get("audience", "")
        if chosen:
            audience_id = audience_choose_for_step(ad_account=step.ad_account, chosen=chosen).pk
        canvas_services.step_update_sync(
            step=step, partner_key=step.partner, ad_account_id=step.ad_account_id,
            audience_id=audience_id, action=post.get("action", SyncAction.ADD),
            match_fields=match_fields, respect_ad_tracking=respect)
        messages.success(request, "Step saved.")
        return
    raise ServiceError("Nothing to do.")


def _sync_step_context(request, canvas, step) -> dict:
    context = {
        "canvas": canvas, "step": step, "partners": registry.all_partners(),
        "editable": canvas.status == CanvasStatus.DRAFT,
        "mode": request.GET.get("mode") or ("chosen" if step.audience_id else "new"),
        "actions": SyncAction.choices, "query": request.GET.get("q", "").strip(),
    }
    if step.partner:
        partner = registry.get(step.partner)
        context["partner"] = partner
        context["accounts"] = ad_accounts_selectable(workspace=request.workspace,
                                                     partner_key=step.partner)
        context["field_choices"] = [(f, f.upper() if f in ("idfa", "gaid") else f.title())
                                    for f in partner.match_field_types]
    if step.audience_id:
        context["filled_with"] = [", ".join(fields) for fields in
                                  canvas_services.audience_fill_fields(audience=step.audience)]
    if step.ad_account_id and context["mode"] == "existing" and context["editable"]:
        try:
            listed = partner_audiences_fetch(ad_account=step.ad_account,
                                             refresh=bool(request.GET.get("refresh")))
        except (ServiceError, PartnerError) as error:
            context["list_error"] = getattr(error, "message", str(error))
            listed = []
        query = context["query"].lower()
        context["listed"] = [a for a in listed if query in a.name.lower() or query == a.id][:200]
        context["listed_total"] = len(listed)
        listed_ids = {a.id for a in listed}
        # An unfinished creation (pressing Create Audience again finishes it) is not offered.
        context["local"] = [a for a in step.ad_account.audiences.filter(created_here=True)
                            .exclude(status="deleted").exclude(status="creating", external_id="")
                            if a.external_id not in listed_ids]
    return context


def _delay_edit(request, canvas, step):
    form = DelayForm(request.POST or None, initial={"delay_value": step.delay_value,
                                                    "delay_unit": step.delay_unit})
    if request.method == "POST" and form.is_valid():
        try:
            canvas_services.step_update_delay(step=step, value=form.cleaned_data["delay_value"],
                                              unit=form.cleaned_data["delay_unit"])
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Delay saved.")
            return redirect("canvas:detail", canvas.pk)
    return render(request, "canvas/step_delay.html", {"canvas": canvas, "step": step,
                                                      "form": form})


@workspace_required
def canvas_analytics(request, canvas_id: int):
    canvas = _canvas_or_404(request, canvas_id)
    steps = list(canvas.steps.filter(kind=StepKind.AUDIENCE_SYNC)
                 .select_related("audience").order_by("position"))
    since = max(canvas.launched_at or canvas.created_at,
                timezone.now() - timezone.timedelta(hours=48))
    charts = {step.pk: sync_chart_svg(selectors.step_series(step=step, since=since))
              for step in steps}
    return render(request, "canvas/analytics.html", {
        "canvas": canvas, "metrics": selectors.step_metrics(steps=steps), "charts": charts,
        "consent_removals": selectors.consent_removals(canvas=canvas),
        "retention_days": settings.SYNC_ITEM_RETENTION_DAYS,
        "banners": selectors.canvas_connection_problems(workspace=request.workspace).get(
            canvas.pk, []),
        "refresh": canvas.status == CanvasStatus.ACTIVE or any(
            m.pending for m in selectors.step_metrics(steps=steps)),
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
