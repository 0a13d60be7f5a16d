from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from audiencesync.confirm import Confirmation, confirmation_page, is_confirmed
from audiencesync.errors import ServiceError
from audiencesync.workspaces.decorators import workspace_required
from audiencesync.workspaces.models import AttributeType
from audiencesync.workspaces.scoping import get_in_workspace_or_404
from canvas.services.targeting import segment_edit_warning, segment_use_problem

from . import builder, selectors, services
from .compile import IDENTIFIERS, KINDS, PROPERTY_TYPES, SegmentDefinitionError, event_retention_text
from .models import Segment


def _segment_or_404(request, segment_id: int) -> Segment:
    return get_in_workspace_or_404(request, Segment.objects.all(), pk=segment_id)


@workspace_required
def segment_list(request):
    return render(request, "segments/list.html", {
        "segments": selectors.segments_for(workspace=request.workspace)})


@workspace_required
def segment_new(request):
    return _builder_page(request, segment=None)


@workspace_required
def segment_detail(request, segment_id: int):
    return _builder_page(request, segment=_segment_or_404(request, segment_id))


def _builder_page(request, *, segment: Segment | None):
    """The builder: every button posts the whole draft; "save" saves it, the others edit
    the draft and show it again (only the builder, in place, to htmx)."""
    workspace = request.workspace
    action, error, error_at, name_error = "", "", None, ""
    if request.method == "POST":
        draft = builder.draft_from_post(request.POST)
        name = request.POST.get("name", "")
        action = request.POST.get("do", "")
        if action == "save":
            definition = builder.draft_to_definition(draft)
            try:
                if segment is None:
                    segment = services.segment_create(workspace=workspace, name=name,
                                                      definition=definition, user=request.user)
                    messages.success(request, f"Segment {segment.name} created. Calculate its "
                                              "exact size below.")
                else:
                    services.segment_update(segment=segment, name=name, definition=definition)
                    warning = segment_edit_warning(segment=segment)
                    messages.success(request, f"Segment {segment.name} saved."
                                              + (f" {warning}" if warning else ""))
                return redirect("segments:detail", segment.pk)
            except SegmentDefinitionError as problem:
                error, error_at = problem.message, problem.where
            except ServiceError as problem:
                name_error = problem.message
        else:
            builder.draft_apply(draft, action)
    else:
        draft = (builder.draft_from_definition(segment.definition) if segment
                 else builder.draft_empty())
        name = segment.name if segment else ""
    choices = selectors.segment_builder_choices(workspace=workspace)
    context = {
        "segment": segment, "name": name, "name_error": name_error, "error": error,
        "groups": builder.draft_view(draft, choices=choices, error_at=error_at, error=error),
        "choices": choices, "kinds": KINDS, "retention": event_retention_text(),
        "identifiers": IDENTIFIERS,
        "property_types": [(t, AttributeType(t).label) for t in PROPERTY_TYPES],
        "size": selectors.segment_size_state(segment=segment) if segment else None,
        "used_by": list(segment.canvases.order_by("name")) if segment else [],
        "edit_warning": segment_edit_warning(segment=segment) if segment else None,
    }
    if request.htmx and action != "save":
        return render(request, "segments/_builder.html", context)
    return render(request, "segments/detail.html", context)


@workspace_required
def segment_size(request, segment_id: int):
    """POST asks for the exact size; GET is the size panel (htmx polls it while counting)."""
    segment = _segment_or_404(request, segment_id)
    if request.method == "POST":
        services.segment_size_request(segment=segment)
        if not request.htmx:
            messages.info(request, "Calculating the exact size in the background; reload this "
                                   "page to see it.")
            return redirect("segments:detail", segment.pk)
    elif not request.htmx:
        return redirect("segments:detail", segment.pk)
    return render(request, "segments/_size.html", {
        "segment": segment, "size": selectors.segment_size_state(segment=segment)})


@workspace_required
def segment_delete(request, segment_id: int):
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    segment = _segment_or_404(request, segment_id)
    problem = segment_use_problem(segment=segment)
    if problem:
        messages.error(request, problem)
        return redirect("segments:detail", segment.pk)
    if not is_confirmed(request):
        return confirmation_page(request, Confirmation(
            title=f"Delete segment {segment.name}?",
            consequences=[f"Delete the segment {segment.name} and its last calculated size.",
                          "No profile changes: a segment only chooses profiles."],
            button="Delete segment", cancel_url=reverse("segments:detail", args=[segment.pk])))
    try:
        services.segment_delete(segment=segment)
    except ServiceError as error:  # a canvas took it as its target meanwhile
        messages.error(request, error.message)
        return redirect("segments:detail", segment.pk)
    messages.success(request, f"Segment {segment.name} deleted.")
    return redirect("segments:list")
