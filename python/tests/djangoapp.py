"""A Django project in one module for the server-mode tests: settings, views and URLs.

Django is configured once per process; :func:`configure` also installs the test's
:class:`webapps.Work`, which the views use.
"""

from __future__ import annotations

from typing import Any

import django
from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path

WORK: Any = None


def configure(work: Any) -> None:
    global WORK
    WORK = work
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            SECRET_KEY="oxray-tests-only",
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()


def hello(request: Any) -> HttpResponse:
    return HttpResponse("hello", content_type="text/plain")


def health(request: Any) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def throttled(request: Any) -> HttpResponse:
    return HttpResponse("slow down", status=429)


def fail(request: Any) -> HttpResponse:
    return HttpResponse("unavailable", status=503)


def boom(request: Any) -> HttpResponse:
    raise RuntimeError("boom")


def stream(request: Any) -> StreamingHttpResponse:
    return StreamingHttpResponse(WORK.chunks(), content_type="text/plain")


def work(request: Any) -> JsonResponse:
    return JsonResponse(WORK.fetch_order(request.GET.get("id", "o-1")))


def relay(request: Any) -> HttpResponse:
    return HttpResponse(str(WORK.relay(request.GET["to"])))


urlpatterns = [
    path("hello", hello),
    path("health", health),
    path("throttled", throttled),
    path("fail", fail),
    path("boom", boom),
    path("stream", stream),
    path("work", work),
    path("relay", relay),
]
