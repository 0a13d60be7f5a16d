"""The public entries API: ``POST /api/v1/canvases/<id>/entries`` with a workspace API key.

Every answer is JSON; every error is ``{"error": "..."}`` with a status that says whose
move it is (401 the key, 400/413 the body, 404/409 the canvas).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from audiencesync.errors import ServiceError
from audiencesync.workspaces.apikeys import api_key_authenticate
from canvas.services.entries_api import MAX_BODY_BYTES, canvas_entries_submit

_STATUS_BY_CODE = {"unauthorized": 401, "invalid": 400, "not_found": 404, "conflict": 409,
                   "length_required": 411, "too_large": 413}


@csrf_exempt
@login_not_required
def canvas_entries(request, canvas_id: int):
    if request.method != "POST":
        response = _error(405, "Use POST to enter users into a canvas.")
        response["Allow"] = "POST"
        return response
    try:
        api_key = api_key_authenticate(authorization=request.headers.get("Authorization", ""))
        body = _read_body(request)
        answer = canvas_entries_submit(
            api_key=api_key, canvas_id=canvas_id, body=body,
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
        )
    except ServiceError as error:
        response = _error(_STATUS_BY_CODE.get(error.code, 400), error.message)
        if error.code == "unauthorized":
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    response = JsonResponse(answer.body, status=answer.status)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _read_body(request) -> bytes:
    """The body, refused before it is read when it says it is too large, or as it grows so.

    A chunked body has no Content-Length, so Django reads it as empty. A server that
    decodes the chunks and ends the stream says so with ``wsgi.input_terminated``
    (gunicorn does): then the stream itself is read. Any other server would leave the chunk
    framing in the stream or wait forever, so the sender is asked for a Content-Length.
    """
    too_large = ServiceError(f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB; "
                             f"send at most {settings.ENTRIES_API_MAX_USERS:,} users a call.",
                             code="too_large")
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
        if declared > MAX_BODY_BYTES:
            raise too_large
        stream = request
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    return body


def _is_chunked(request) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)
