"""Who may use the API: named bearer tokens, one per person or system.

``api.tokens_file`` holds ``name:token`` lines (``#`` comments and blank lines allowed); the
older ``api.token_file`` holds one token, which becomes the credential ``api-token``. Every
acknowledgement and silence made through the API is recorded under the name of the token that
made it, never under a name the request gives. A token is compared with every credential in
constant time, so neither a match nor its position shows in the response time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from vitalwatch.errors import ConfigError
from vitalwatch.settings import ApiSettings

MIN_TOKEN_LENGTH = 16
LEGACY_NAME = "api-token"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@'-]{0,63}$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: it travels in an HTTP header


@dataclass(frozen=True, repr=False)
class Credential:
    name: str
    token: str

    def __repr__(self) -> str:  # never the token
        return f"Credential({self.name!r})"


class Credentials:
    """The credentials in force; ``identify`` names the one an ``Authorization`` header holds."""

    def __init__(self, credentials: list[Credential]) -> None:
        self._all = tuple(credentials)
        self._digests = tuple(_digest(c.token) for c in credentials)

    def names(self) -> list[str]:
        return [c.name for c in self._all]

    def get(self, name: str) -> Credential | None:
        return next((c for c in self._all if c.name == name), None)

    def identify(self, authorization: str) -> str | None:
        """The credential's name for ``Bearer <token>``, or None. Every credential is compared
        (constant time each, no early exit)."""
        scheme, _, token = authorization.strip().partition(" ")
        given = _digest(token.strip()) if scheme.lower() == "bearer" else _digest("")
        found: str | None = None
        for credential, digest in zip(self._all, self._digests, strict=True):
            if hmac.compare_digest(digest, given) and found is None:
                found = credential.name
        return found


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def load_credentials(settings: ApiSettings) -> Credentials | None:
    """The credentials from ``api.tokens_file`` and ``api.token_file``; None without either.

    A file that cannot be read, a malformed line, a token shorter than 16 characters, a name
    or token used twice: ``ConfigError`` naming the file and line.
    """
    placed: list[tuple[Credential, str]] = []
    if settings.tokens_file is not None:
        lines = _read(settings.tokens_file, "tokens_file").splitlines()
        for number, line in enumerate(lines, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                place = f"api.tokens_file {settings.tokens_file} line {number}"
                placed.append((_parse(line, place), place))
    if settings.token_file is not None:
        token = _read(settings.token_file, "token_file").strip()
        place = f"api.token_file {settings.token_file}"
        placed.append((_checked(Credential(LEGACY_NAME, token), place), place))
    _refuse_duplicates(placed)
    return Credentials([c for c, _ in placed]) if placed else None


def _read(path: Path, setting: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(
            f"api.{setting} {path} cannot be read ({why}); point "
            f"VITALWATCH_API__{setting.upper()} at a readable file"
        ) from None


def _parse(line: str, place: str) -> Credential:
    name, colon, token = line.partition(":")
    if not colon:
        raise ConfigError(f"{place}: write name:token (e.g. ward-5b-station:<token>)")
    return _checked(Credential(name.strip(), token.strip()), place)


def _checked(credential: Credential, place: str) -> Credential:
    if not _NAME.match(credential.name):
        raise ConfigError(
            f"{place}: the name {credential.name!r} is not valid; use letters, digits, "
            "space and . _ @ ' - (at most 64 characters)"
        )
    if len(credential.token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{place}: the token of {credential.name!r} is shorter than {MIN_TOKEN_LENGTH} "
            "characters; make one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe())'`"
        )
    if not _TOKEN.match(credential.token):
        raise ConfigError(
            f"{place}: the token of {credential.name!r} has a space or a character that is not "
            "printable ASCII"
        )
    return credential


def _refuse_duplicates(placed: list[tuple[Credential, str]]) -> None:
    names: set[str] = set()
    tokens: dict[str, str] = {}
    for credential, place in placed:
        if credential.name in names:
            raise ConfigError(
                f"{place}: the name {credential.name!r} is used twice; "
                "give each person or system its own name"
            )
        if credential.token in tokens:
            raise ConfigError(
                f"{place}: {credential.name!r} has the same token as "
                f"{tokens[credential.token]!r}; give each credential its own token"
            )
        names.add(credential.name)
        tokens[credential.token] = credential.name
