"""The public API with a workspace API key: ``POST /api/v1/canvases/<id>/entries`` (the
entries API) and ``POST /api/v1/users/track`` (the track API).

Every answer is JSON; every error is ``{"error": "..."}`` with a status that says whose
move it is (401 the key, 400/413 the body, 404/409 the canvas).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from audiencesync.errors import ServiceError
from audiencesync.workspaces.apikeys import api_key_authenticate
from canvas.services import entries_api, track_api

_STATUS_BY_CODE = {"unauthorized": 401, "invalid": 400, "not_found": 404, "conflict": 409,
                   "length_required": 411, "too_large": 413}


@csrf_exempt
@login_not_required
def canvas_entries(request, canvas_id: int):
    return _api_call(
        request, what="enter users into a canvas", max_bytes=entries_api.MAX_BODY_BYTES,
        advice=f"send at most {settings.ENTRIES_API_MAX_USERS:,} users a call",
        submit=lambda api_key, body, idempotency_key: entries_api.canvas_entries_submit(
            api_key=api_key, canvas_id=canvas_id, body=body, idempotency_key=idempotency_key))


@csrf_exempt
@login_not_required
def users_track(request):
    return _api_call(
        request, what="track attributes and events", max_bytes=track_api.MAX_BODY_BYTES,
        advice=f"send at most {settings.TRACK_API_MAX_ITEMS:,} attributes and as many events "
               "a call",
        submit=lambda api_key, body, idempotency_key: track_api.users_track_submit(
            api_key=api_key, body=body, idempotency_key=idempotency_key))


def _api_call(request, *, what: str, max_bytes: int, advice: str, submit) -> JsonResponse:
    """The contract every API endpoint shares: POST, a Bearer key, a bounded body, errors as
    ``{"error": ...}`` with their status, and the replay header of an idempotent repeat."""
    if request.method != "POST":
        response = _error(405, f"Use POST to {what}.")
        response["Allow"] = "POST"
        return response
    try:
        api_key = api_key_authenticate(authorization=request.headers.get("Authorization", ""))
        body = _read_body(request, max_bytes=max_bytes, advice=advice)
        answer = submit(api_key, body, request.headers.get("Idempotency-Key", "").strip())
    except ServiceError as error:
        response = _error(_STATUS_BY_CODE.get(error.code, 400), error.message)
        if error.code == "unauthorized":
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    response = JsonResponse(answer.body, status=answer.status)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _read_body(request, *, max_bytes: int, advice: str) -> bytes:
    """The body, refused before it is read when it says it is too large, or as it grows so.

    A chunked body has no Content-Length, so Django reads it as empty. A server that
    decodes the chunks and ends the stream says so with ``wsgi.input_terminated``
    (gunicorn does): then the stream itself is read. Any other server would leave the chunk
    framing in the stream or wait forever, so the sender is asked for a Content-Length.
    """
    too_large = ServiceError(f"The body is larger than {max_bytes // (1024 * 1024)} MB; "
                             f"{advice}.", code="too_large")
    if _is_chunked(request) and not request.META.get("CONTENT_LENGTH"):
        if not request.META.get("wsgi.input_terminated"):
            raise ServiceError("This server cannot read a chunked body: send the body with a "
                               "Content-Length header.", code="length_required")
        stream = request.META["wsgi.input"]
    else:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > max_bytes:
            raise too_large
        stream = request
    body = stream.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise too_large
    return body


def _is_chunked(request) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)
