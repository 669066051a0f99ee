"""Server mode: a segment per HTTP request, for WSGI and ASGI applications.

    from oxray.middleware import XRayWSGIMiddleware, XRayASGIMiddleware

    app.wsgi_app = XRayWSGIMiddleware(app.wsgi_app)         # Flask
    application = XRayWSGIMiddleware(get_wsgi_application())  # Django (wsgi.py)
    app.add_middleware(XRayASGIMiddleware)                   # FastAPI / Starlette
    application = XRayASGIMiddleware(get_asgi_application())  # Django (asgi.py)

Each request continues the incoming ``X-Amzn-Trace-Id`` (or is sampled by the rules), records
``http.request`` / ``http.response`` and the error/throttle/fault flags, records an exception
the application raises (and re-raises it unchanged), and answers ``X-Amzn-Trace-Id:
Root=…`` (with ``;Sampled=0|1`` when the caller asked with ``Sampled=?``). While the request
runs its segment is the current entity, so ``Tracer.capture_method``, ``put_annotation``,
``xray_recorder`` and the library patches record under it, as they do under a Lambda
invocation. Making a middleware turns on Tracers that were off only because the process is
not in Lambda.
"""

from __future__ import annotations

from .asgi import XRayASGIMiddleware
from .wsgi import XRayWSGIMiddleware

__all__ = ["XRayWSGIMiddleware", "XRayASGIMiddleware"]
