from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audiencesync.confirm import Confirmation, confirmation_page, is_confirmed
from audiencesync.errors import ServiceError
from audiencesync.workspaces.decorators import manager_required, workspace_required

from . import oauth, registry, selectors, services
from .base import PartnerError


def _partner_or_404(partner_key: str):
    try:
        return registry.get(partner_key)
    except KeyError:
        raise Http404(f"No partner called {partner_key!r}.") from None


@workspace_required
def partner_list(request):
    connections = selectors.connections_by_partner(workspace=request.workspace)
    rows = [(partner, connections.get(partner.key)) for partner in registry.all_partners()]
    return render(request, "partners/list.html", {"rows": rows})


@workspace_required
def partner_detail(request, partner_key: str):
    partner = _partner_or_404(partner_key)
    connection = selectors.connection_for(workspace=request.workspace, partner_key=partner.key)
    accounts = connection.ad_accounts.filter(reachable=True) if connection else []
    rate = (selectors.rate_scope_report(partner=partner, connection_id=connection.pk)
            if connection else None)
    return render(
        request,
        "partners/detail.html",
        {"partner": partner, "connection": connection, "accounts": accounts, "rate": rate,
         "retry_window_hours": settings.SYNC_RETRY_WINDOW // 3600},
    )


@require_POST
@manager_required
def partner_connect(request, partner_key: str):
    partner = _partner_or_404(partner_key)
    url = oauth.oauth_start(
        session=request.session, partner=partner, workspace_id=request.workspace.pk
    )
    return redirect(url)


@manager_required
def partner_callback(request, partner_key: str):
    partner = _partner_or_404(partner_key)
    try:
        code = oauth.oauth_finish(
            session=request.session, partner=partner, workspace_id=request.workspace.pk,
            params=request.GET,
        )
        tokens = partner.exchange_code(code=code, redirect_uri=oauth.redirect_uri(partner=partner))
        services.connection_connect(
            workspace=request.workspace, partner=partner, tokens=tokens, user=request.user
        )
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("partners:detail", partner.key)
    except PartnerError as error:
        messages.error(request, f"{partner.name} refused the connection: {error.message}")
        return redirect("partners:detail", partner.key)
    messages.success(request, f"{partner.name} connected. Choose the ad accounts to sync to.")
    return redirect("partners:accounts", partner.key)


@manager_required
def partner_accounts(request, partner_key: str):
    partner = _partner_or_404(partner_key)
    connection = selectors.connection_for(workspace=request.workspace, partner_key=partner.key)
    if connection is None or not connection.is_active:
        messages.error(request, f"Connect {partner.name} first.")
        return redirect("partners:detail", partner.key)
    if request.method == "POST":
        chosen = request.POST.getlist("ad_account")
        if not chosen:
            messages.error(request, "Choose at least one ad account.")
        else:
            try:
                count = services.ad_accounts_select(connection=connection, external_ids=chosen)
            except ServiceError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, f"{count} ad account{'s'[:count != 1]} selected.")
                return redirect("partners:detail", partner.key)
    return render(
        request,
        "partners/accounts.html",
        {"partner": partner, "connection": connection,
         "accounts": connection.ad_accounts.filter(reachable=True)},
    )


@require_POST
@manager_required
def partner_check(request, partner_key: str):
    partner = _partner_or_404(partner_key)
    connection = selectors.connection_for(workspace=request.workspace, partner_key=partner.key)
    if connection is None or not connection.is_active:
        raise Http404("Nothing to check.")
    connection = services.connection_check(connection=connection)
    if connection.is_active and not connection.last_error:
        messages.success(request, f"The {partner.name} token works.")
    else:
        messages.error(request, connection.last_error)
    return redirect("partners:detail", partner.key)


@manager_required
def partner_disconnect(request, partner_key: str):
    partner = _partner_or_404(partner_key)
    connection = selectors.connection_for(workspace=request.workspace, partner_key=partner.key)
    if connection is None:
        raise Http404("Not connected.")
    if not is_confirmed(request):
        return confirmation_page(request, Confirmation(
            title=f"Disconnect {partner.name}?",
            consequences=[
                f"Disconnect {partner.name} from workspace {request.workspace.name}: its tokens "
                f"are revoked at {partner.name} and deleted here.",
                f"Canvases stop sending users to {partner.name}: users waiting to sync stay "
                "pending until someone reconnects (which needs the consent page again).",
                "Ad accounts and audiences are kept.",
            ],
            button=f"Disconnect {partner.name}",
            cancel_url=reverse("partners:detail", args=[partner.key]),
        ))
    services.connection_disconnect(connection=connection)
    messages.success(request, f"{partner.name} disconnected. Its tokens were deleted.")
    return redirect("partners:detail", partner.key)
