"""The notification HTTP API: acknowledge alerts and manage silences.

Bound to ``api.host:api.port`` (127.0.0.1:9465 by default), apart from the unauthenticated
metrics endpoint. Every ``/api/`` request needs ``Authorization: Bearer <token>``, one of the
named credentials of ``api.tokens_file`` (``credentials``); without one the API does not start.
What is done is recorded under that credential's name; the body cannot name anyone.

    POST /api/v1/alerts/{alert_id}/ack                                 → 200 | 404
    GET  /api/v1/silences                                              → 200 [silence]
    POST /api/v1/silences   {"matchers": ["patient_id=P-0042"], "duration": "2h",
                             "reason": "in theatre"}                    → 201 silence
                            ("ends_at": epoch seconds instead of "duration")
    POST /api/v1/silences/{id}/expire                                  → 200 | 404
    GET|POST /ack/{alert_id}?sig=…     the acknowledge link put in notifications (``links``)

A refused request (400 bad body, 401, 404, 405, 413 body over 16 KiB, 503 over
``api.max_connections``) stores nothing. Modules: ``credentials`` (who), ``bodies`` (what a
body may say), ``links`` (signed acknowledge links), ``app`` (the endpoints), ``server``
(uvicorn on its own thread, with its limits and TLS).
"""

from __future__ import annotations

import structlog

from vitalwatch.notify.api.app import ApiApp
from vitalwatch.notify.api.credentials import Credential, Credentials, load_credentials
from vitalwatch.notify.api.links import ack_link_maker, link_signature, link_signer
from vitalwatch.notify.api.server import ApiServer
from vitalwatch.notify.operations import Operations
from vitalwatch.settings import ApiSettings

log = structlog.get_logger(__name__)


def start_api(settings: ApiSettings, ops: Operations) -> ApiServer | None:
    """Start the API on its own thread; None when it is off (disabled, or no credential)."""
    credentials = load_credentials(settings)
    if not settings.enabled or credentials is None:
        log.info("api.disabled", hint="set api.tokens_file to a file of name:token lines")
        return None
    app = ApiApp(ops, credentials, link_signer(settings, credentials), settings.max_silence / 1000)
    server = ApiServer(settings, app.starlette())
    server.start()
    log.info("api.credentials", names=credentials.names())
    return server


__all__ = [
    "ApiServer",
    "Credential",
    "Credentials",
    "ack_link_maker",
    "link_signature",
    "load_credentials",
    "start_api",
]
