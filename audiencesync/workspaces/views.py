from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from audiencesync.errors import ServiceError

from . import selectors, services
from .decorators import manager_required, workspace_required
from .forms import InviteForm, WorkspaceForm, WorkspaceSwitchForm
from .middleware import SESSION_KEY
from .profile_selectors import profile_count


@workspace_required
def home(request):
    workspace = request.workspace
    return render(
        request,
        "workspaces/home.html",
        {"profile_count": profile_count(workspace=workspace)},
    )


def workspace_create(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                name=form.cleaned_data["name"],
                owner=request.user,
                default_country=form.cleaned_data["default_country"],
            )
        except ServiceError as error:
            form.add_error(error.field, error.message)
        else:
            request.session[SESSION_KEY] = workspace.pk
            messages.success(request, f"Workspace {workspace} created.")
            return redirect("home")
    return render(request, "workspaces/create.html", {"form": form})


@require_POST
def workspace_switch(request):
    form = WorkspaceSwitchForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not a workspace of yours.")
        return redirect("home")
    membership = selectors.membership_for(
        user=request.user, workspace_id=form.cleaned_data["workspace_id"]
    )
    if membership is not None:
        request.session[SESSION_KEY] = membership.workspace_id
    return redirect("home")


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@workspace_required
def workspace_settings(request):
    workspace = request.workspace
    initial = {"name": workspace.name, "default_country": workspace.default_country}
    form = WorkspaceForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not request.membership.can_manage:
            messages.error(request, "Only owners and admins can change workspace settings.")
            return redirect("workspace_settings")
        if form.is_valid():
            try:
                services.workspace_update(workspace=workspace, **form.cleaned_data)
            except ServiceError as error:
                form.add_error(error.field, error.message)
            else:
                messages.success(request, "Settings saved.")
                return redirect("workspace_settings")
    return render(request, "workspaces/settings.html", {"form": form})


@workspace_required
def members(request):
    workspace = request.workspace
    return render(
        request,
        "workspaces/members.html",
        {
            "members": selectors.workspace_members(workspace=workspace),
            "invitations": selectors.workspace_open_invitations(workspace=workspace),
            "invite_form": InviteForm(),
            "roles": services.Role.choices,
        },
    )


@manager_required
def member_action(request, action: str):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    actor = request.membership
    try:
        if action == "invite":
            form = InviteForm(request.POST)
            if not form.is_valid():
                raise ServiceError(" ".join(e for errs in form.errors.values() for e in errs))
            result = services.member_invite(actor=actor, **form.cleaned_data)
            if isinstance(result, services.Invitation):
                messages.success(request, f"Invitation sent to {result.email}.")
            else:
                messages.success(request, f"{result.user.email} added as {result.role}.")
        elif action == "role":
            membership = services.membership_change_role(
                actor=actor,
                membership_id=_int(request.POST.get("membership_id")),
                role=request.POST.get("role", ""),
            )
            messages.success(request, f"{membership.user.email} is now {membership.role}.")
        elif action == "remove":
            services.membership_remove(
                actor=actor, membership_id=_int(request.POST.get("membership_id"))
            )
            messages.success(request, "Member removed.")
        elif action == "revoke-invitation":
            services.invitation_revoke(
                actor=actor, invitation_id=_int(request.POST.get("invitation_id"))
            )
            messages.success(request, "Invitation revoked.")
        else:
            messages.error(request, f"Unknown action {action!r}.")
    except ServiceError as error:
        messages.error(request, error.message)
    return redirect("members")
