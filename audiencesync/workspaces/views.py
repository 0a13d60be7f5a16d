from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from audiencesync.confirm import Confirmation, confirmation_page, is_confirmed
from audiencesync.errors import ServiceError

from . import confirmations, selectors, services
from .decorators import manager_required, workspace_required
from .forms import InviteForm, WorkspaceForm, WorkspaceSwitchForm
from .middleware import workspace_make_current


def workspace_create(request):
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                name=form.cleaned_data["name"],
                owner=request.user,
                default_country=form.cleaned_data["default_country"],
                time_zone=form.cleaned_data["time_zone"],
            )
        except ServiceError as error:
            form.add_error(error.field, error.message)
        else:
            workspace_make_current(request, workspace.memberships.get(user=request.user))
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
        workspace_make_current(request, membership)
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return redirect(next_url)
    return redirect("home")


def page_not_found(request, exception):
    """The site's 404 (handler404): offers a switch to the user's workspace holding the object.

    Nothing else of the exception is shown, so a stranger's object and an id that never
    existed answer the same page.
    """
    return render(request, "404.html", {
        "elsewhere": getattr(exception, "elsewhere", None), "path": request.get_full_path(),
    }, status=404)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@workspace_required
def workspace_settings(request):
    workspace = request.workspace
    initial = {"name": workspace.name, "default_country": workspace.default_country,
               "time_zone": workspace.time_zone}
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
            "invitation_expiry_days": settings.INVITATION_EXPIRY_DAYS,
        },
    )


def _member_confirmation(request, action: str) -> Confirmation | None:
    """The question to ask before removing or demoting a member; None when there is none."""
    if is_confirmed(request):
        return None
    data = request.GET if request.method == "GET" else request.POST
    membership = selectors.workspace_member(workspace=request.workspace,
                                            membership_id=_int(data.get("membership_id")))
    if membership is None:
        return None  # the service says there is no such member
    if action == "remove":
        return confirmations.membership_remove(actor=request.membership, membership=membership)
    return confirmations.membership_demote(actor=request.membership, membership=membership,
                                           role=data.get("role", ""))


@manager_required
def member_action(request, action: str):
    if action in ("remove", "role"):  # these take something away: ask first
        confirmation = _member_confirmation(request, action)
        if confirmation is not None:
            return confirmation_page(request, confirmation)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    actor = request.membership
    try:
        if action == "invite":
            form = InviteForm(request.POST)
            if not form.is_valid():
                raise ServiceError(" ".join(e for errs in form.errors.values() for e in errs))
            invitation = services.member_invite(actor=actor, **form.cleaned_data)
            messages.success(
                request,
                f"Invitation sent to {invitation.email}: they join as "
                f"{invitation.get_role_display().lower()} when they accept it from that address.",
            )
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


@login_not_required
@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """The link in an invitation mail: who invited whom where, and an Accept button.

    Anyone holding the link sees the invitation (the link is the secret); only the owner
    of the invited, verified address can accept it, and only with a POST.
    """
    user = request.user
    if request.method == "POST" and not user.is_authenticated:
        return redirect(f"{reverse('account_login')}?next={request.path}")
    try:
        if request.method == "POST":
            membership = services.invitation_accept(user=user, token=token)
            workspace_make_current(request, membership)
            messages.success(request, f"You joined {membership.workspace} as "
                                      f"{membership.get_role_display().lower()}.")
            return redirect("home")
        invitation = services.invitation_check(
            invitation=selectors.invitation_for_token(token=token),
            user=user if user.is_authenticated else None,
        )
    except ServiceError as error:
        return render(request, "workspaces/invitation.html",
                      {"error": error.message}, status=400)
    return render(request, "workspaces/invitation.html",
                  {"invitation": invitation, "next": request.path})
