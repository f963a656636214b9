"""Acknowledge links put in notifications: ``{api.public_url}/ack/{alert_id}?sig=…``.

The signature is an HMAC of the alert id under one credential's token (``api.link_credential``,
or the only credential there is), so a link acknowledges that one alert only and carries no
token; the acknowledgement is recorded under that credential's name, via ``link``. With the
single ``api.token_file`` credential the key is the same as before it had a name, so links
already sent keep working.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from vitalwatch.errors import ConfigError
from vitalwatch.notify.api.credentials import Credential, Credentials
from vitalwatch.settings import ApiSettings


def link_signature(token: str, alert_id: str) -> str:
    return hmac.new(token.encode(), alert_id.encode(), hashlib.sha256).hexdigest()[:32]


def link_signer(settings: ApiSettings, credentials: Credentials | None) -> Credential | None:
    """The credential that signs links; None when links are off (no public_url or no
    credential). ``ConfigError`` when it is ambiguous or names no credential."""
    if not settings.public_url or credentials is None:
        return None
    names = credentials.names()
    if settings.link_credential is None:
        if len(names) == 1:
            return credentials.get(names[0])
        raise ConfigError(
            f"api.public_url is set and there are {len(names)} API credentials: name the one "
            "that signs acknowledge links in api.link_credential (VITALWATCH_API__LINK_CREDENTIAL)"
        )
    signer = credentials.get(settings.link_credential)
    if signer is None:
        raise ConfigError(
            f"api.link_credential {settings.link_credential!r} is not among the API credentials "
            f"({', '.join(names)})"
        )
    return signer


def ack_link_maker(
    settings: ApiSettings, credentials: Credentials | None
) -> Callable[[str], str | None]:
    """The acknowledge link for an alert id, when ``api.public_url`` and a credential are set."""
    signer = link_signer(settings, credentials)
    if signer is None or not settings.public_url:
        return lambda alert_id: None
    base, token = settings.public_url.rstrip("/"), signer.token
    return lambda alert_id: f"{base}/ack/{alert_id}?sig={link_signature(token, alert_id)}"
