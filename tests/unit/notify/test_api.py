"""The notification HTTP API on a real loopback socket: named credentials, ack, silences, ack
links, and what the API refuses (non-finite or overlong silences, bodies that lie about their
length, idle and slow clients) without storing anything or holding a thread."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vitalwatch.errors import ConfigError
from vitalwatch.notify.api import ack_link_maker, load_credentials, start_api
from vitalwatch.notify.api.credentials import LEGACY_NAME
from vitalwatch.notify.stores.alerts import Source
from vitalwatch.settings import ApiSettings

from .api_harness import (
    NURSE,
    NURSE_TOKEN,
    PAGER,
    PAGER_TOKEN,
    Served,
    call,
    exchange,
    open_ops,
    request_bytes,
    serve_api,
)
from .harness import alert

SILENCE = {"matchers": ["patient_id=P-0042"], "duration": "2h", "reason": "theatre"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Served]:
    with serve_api(tmp_path) as served:
        yield served


def test_every_api_call_needs_one_of_the_named_credentials(api: Served) -> None:
    url = f"{api.base}/api/v1/silences"
    assert call(url, method="GET", token=None)[0] == 401
    assert call(url, method="GET", token="wrong-but-long-enough-token")[0] == 401
    assert call(url, method="GET", token=NURSE_TOKEN[:-1])[0] == 401
    assert call(f"{api.base}/api/v1/alerts/{alert().alert_id}/ack", {}, token=None)[0] == 401
    assert call(url, SILENCE, token=None)[0] == 401
    assert call(url, method="GET", token=PAGER_TOKEN)[0] == 200
    assert api.stored() == (0, 0, 0)


def test_an_ack_is_recorded_under_the_credential_not_a_name_in_the_body(api: Served) -> None:
    a = alert()
    url = f"{api.base}/api/v1/alerts/{a.alert_id}/ack"
    assert call(url, {})[0] == 404
    api.ops.alerts.ingest(a, Source("t", 0, 1), 1.0)
    status, error = call(url, {"by": "dr impostor"})
    assert status == 400 and "credential" in error["error"]
    assert api.ops.acks.get(a.alert_id) is None
    status, body = call(url)
    assert status == 200 and body["new"] is True and body["by"] == NURSE
    assert call(url, {}, token=PAGER_TOKEN)[1]["new"] is False
    ack = api.ops.acks.get(a.alert_id)
    assert ack is not None and (ack.by, ack.via) == (NURSE, "api")
    (entry,) = api.ops.audit.query(event="alert.acknowledged")
    assert entry.detail == {"by": NURSE, "via": "api"}


def test_silences_through_the_api_name_their_creator_and_expirer(api: Served) -> None:
    status, created = call(f"{api.base}/api/v1/silences", SILENCE)
    assert status == 201 and created["matchers"] == ["patient_id=P-0042"]
    assert created["created_by"] == NURSE and created["ends_at"] - created["starts_at"] == 7200
    status, listed = call(f"{api.base}/api/v1/silences", method="GET")
    assert status == 200 and [s["id"] for s in listed] == [created["id"]]
    expire = f"{api.base}/api/v1/silences/{created['id']}/expire"
    assert call(expire, {}, token=PAGER_TOKEN) == (200, {"expired": created["id"], "by": PAGER})
    assert call(expire, {})[0] == 404
    status, error = call(f"{api.base}/api/v1/silences", {**SILENCE, "matchers": ["bad"]})
    assert status == 400 and "not a matcher" in error["error"]
    for field in ("by", "created_by"):
        assert call(f"{api.base}/api/v1/silences", {**SILENCE, field: "x"})[0] == 400
    added, expired = api.ops.audit.query()
    assert added.event == "silence.added" and added.detail["silence"]["created_by"] == NURSE
    assert expired.event == "silence.expired" and expired.detail["by"] == PAGER


@pytest.mark.parametrize(
    "ends_at", [b"Infinity", b"-Infinity", b"NaN", b"1e400", b"-1e400", b"9" * 400]
)
def test_a_silence_must_end_at_a_finite_time(api: Served, ends_at: bytes) -> None:
    """Infinity was a permanent silence (201); NaN an uncaught IntegrityError, no answer."""
    body = b'{"matchers": ["patient_id=P-0042"], "reason": "theatre", "ends_at": %s}' % ends_at
    answer = exchange(api.port, [request_bytes("POST", "/api/v1/silences", body)], bound=5)
    assert answer.status == 400 and b"finite" in answer.body
    assert api.stored() == (0, 0, 0)


def test_a_silence_is_at_most_max_silence_long_and_names_a_value_exactly(
    tmp_path: Path,
) -> None:
    with serve_api(tmp_path, max_silence="3h") as api:
        url = f"{api.base}/api/v1/silences"
        status, error = call(url, {**SILENCE, "duration": "3h1m"})
        assert status == 400 and "at most 3h (api.max_silence)" in error["error"]
        status, _ = call(url, {**SILENCE, "duration": None, "ends_at": time.time() + 4 * 3600})
        assert status == 400
        status, error = call(url, {**SILENCE, "matchers": ["patient_id=~.*"]})
        assert status == 400 and "exact matcher" in error["error"]
        assert call(url, {**SILENCE, "matchers": ["ward!=none"]})[0] == 400
        assert call(url, {**SILENCE, "matchers": ["patient_id="]})[0] == 400
        assert api.stored() == (0, 0, 0)
        assert call(url, {**SILENCE, "duration": "3h"})[0] == 201


def test_the_ack_link_acknowledges_that_alert_only_on_post_as_the_signing_credential(
    api: Served,
) -> None:
    a, other = alert(), alert(patient="P-1")
    for x in (a, other):
        api.ops.alerts.ingest(x, Source("t", 0, 1), 1.0)
    settings = api.settings.model_copy(update={"public_url": api.base})
    link = ack_link_maker(settings, load_credentials(settings))(a.alert_id)
    assert link is not None
    status, page = call(link, method="GET", token=None)
    assert status == 200 and "<form" in page and api.ops.acks.get(a.alert_id) is None
    assert call(link, {}, token=None)[0] == 200
    ack = api.ops.acks.get(a.alert_id)
    assert ack is not None and (ack.by, ack.via) == (PAGER, "link")
    forged = link.replace(a.alert_id, other.alert_id)
    assert call(forged, {}, token=None)[0] == 401 and api.ops.acks.get(other.alert_id) is None


def test_idle_connections_hold_no_thread_and_are_closed_after_request_timeout(
    api: Served,
) -> None:
    """Before: 100 idle connections held 102 threads, for ever."""
    threads = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(100)]
    time.sleep(0.3)
    assert threading.active_count() == threads
    closed_by = time.monotonic() + 1 + 2  # api.request_timeout 1s, and slack
    for sock in idle:
        sock.settimeout(max(0.01, closed_by - time.monotonic()))
        assert sock.recv(1) == b""  # closed by the server, in time (else TimeoutError)
        sock.close()
    assert call(f"{api.base}/api/v1/silences", method="GET")[0] == 200


def test_a_negative_content_length_is_refused_at_once(api: Served) -> None:
    request = request_bytes("POST", "/api/v1/silences", b"{}", Content_Length="-1")
    answer = exchange(api.port, [request], bound=2)
    assert answer.status == 400 and answer.seconds < 1


def test_a_body_shorter_than_its_content_length_is_closed_within_request_timeout(
    api: Served,
) -> None:
    """Before: the handler waited for the missing bytes for ever."""
    body = b'{"matchers": ["patient_id=P-0042"], "reason": "x", "duration": "1h"}'
    request = request_bytes("POST", "/api/v1/silences", body, Content_Length=str(len(body) + 10))
    answer = exchange(api.port, [request], bound=3)
    assert answer.status is None and 0.5 < answer.seconds < 2
    assert api.stored() == (0, 0, 0)


def test_a_head_sent_a_byte_at_a_time_is_closed_within_request_timeout(api: Served) -> None:
    request = request_bytes("GET", "/api/v1/silences")
    pieces = [request[i : i + 1] for i in range(len(request))]
    started = time.monotonic()
    answer = exchange(api.port, pieces[:20], bound=4, pause=0.1)
    assert answer.status is None and time.monotonic() - started < 3.5


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_16_kib_is_refused_and_not_stored(api: Served, chunked: bool) -> None:
    """Before: any Content-Length was read whole, into memory."""
    matchers = ", ".join(['"patient_id=P-0042"'] * 1000)
    body = b'{"matchers": [%s], "reason": "x", "duration": "1h"}' % matchers.encode()
    assert len(body) > 16_384
    if chunked:
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 4096]), body[i : i + 4096])
                           for i in range(0, len(body), 4096)) + b"0\r\n\r\n"  # fmt: skip
        request = request_bytes(
            "POST", "/api/v1/silences", encoded, Content_Length="", Transfer_Encoding="chunked"
        ).replace(b"Content-Length: \r\n", b"")
    else:
        request = request_bytes("POST", "/api/v1/silences", body)
    answer = exchange(api.port, [request], bound=3)
    assert answer.status == 413
    assert api.stored() == (0, 0, 0)


def test_start_and_stop_leave_no_thread_and_free_the_port(tmp_path: Path) -> None:
    threads = {t.name for t in threading.enumerate()}
    with serve_api(tmp_path) as api:
        port = api.port
        assert call(f"{api.base}/api/v1/silences", method="GET")[0] == 200
    assert {t.name for t in threading.enumerate()} == threads
    with serve_api(tmp_path / "again", port=port) as again:  # as the daemon's restart does
        assert call(f"{again.base}/api/v1/silences", method="GET")[0] == 200


def test_a_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    with serve_api(tmp_path) as api, pytest.raises(ConfigError, match="cannot listen"):
        start_api(ApiSettings(port=api.port, tokens_file=tmp_path / "api-tokens"), api.ops)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = directory / "api.pem", directory / "api.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_from_the_settings(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with serve_api(tmp_path, tls_certificate_file=cert, tls_key_file=key) as api:
        assert api.base.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        url = f"{api.base}/api/v1/silences"
        assert call(url, SILENCE, context=trusted)[0] == 201
        assert call(url, method="GET", context=ssl.create_default_context())[0] == 0
        plain = exchange(api.port, [request_bytes("GET", "/api/v1/silences")], bound=3)
        assert plain.status in (None, 400)
        assert api.stored()[0] == 1


def test_a_bad_tls_file_is_a_config_error(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    key.write_text("not a key\n")
    with pytest.raises(ConfigError, match="not a usable PEM certificate"):
        start_api(
            ApiSettings(port=0, tokens_file=_tokens(tmp_path, "a:" + "x" * 16),
                        tls_certificate_file=cert, tls_key_file=key),
            open_ops(tmp_path / "n.sqlite"),
        )  # fmt: skip


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "api.example.org"])
def test_a_host_beyond_loopback_needs_tls_or_an_explicit_opt_in(tmp_path: Path, host) -> None:
    with pytest.raises(ConfigError, match="not a loopback address and the API has no TLS"):
        ApiSettings(host=host)
    assert ApiSettings(host=host, allow_plain_http=True).host == host
    cert, key = _self_signed(tmp_path)
    assert ApiSettings(host=host, tls_certificate_file=cert, tls_key_file=key).tls
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert ApiSettings(host=loopback).host == loopback
    with pytest.raises(ConfigError, match=r"api.tls_certificate_file .* is not a file"):
        ApiSettings(host=host, tls_certificate_file=tmp_path / "missing.pem")


def _tokens(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens"
    path.write_text(text)
    return path


GOOD = "0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (f"a:{GOOD[:-1]}\n", "line 1: the token of 'a' is shorter than 16 characters"),
        (f"# x\n\na:{GOOD}\na:{GOOD}x\n", "line 4: the name 'a' is used twice"),
        (f"a:{GOOD}\nb:{GOOD}\n", "line 2: 'b' has the same token as 'a'"),
        (f"{GOOD}\n", "line 1: write name:token"),
        (f"a b c:{GOOD} x\n", "line 1: the token of 'a b c' has a space"),
        (f"-a:{GOOD}\n", "line 1: the name '-a' is not valid"),
    ],
)
def test_a_bad_credentials_file_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, said: str
) -> None:
    path = _tokens(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_credentials(ApiSettings(tokens_file=path))
    assert str(error.value).startswith(f"api.tokens_file {path} ")
    assert said in str(error.value) and "\n" not in str(error.value)


def test_token_file_is_one_credential_named_api_token(tmp_path: Path) -> None:
    assert load_credentials(ApiSettings()) is None
    legacy = tmp_path / "legacy"
    legacy.write_text(GOOD + "\n")
    credentials = load_credentials(ApiSettings(token_file=legacy))
    assert credentials is not None and credentials.names() == [LEGACY_NAME]
    assert credentials.identify(f"Bearer {GOOD}") == LEGACY_NAME
    assert credentials.identify(f"bearer  {GOOD} ") == LEGACY_NAME
    assert credentials.identify(GOOD) is None and credentials.identify("") is None
    both = ApiSettings(token_file=legacy, tokens_file=_tokens(tmp_path, f"a:{GOOD}\n"))
    with pytest.raises(ConfigError, match="'api-token' has the same token as 'a'"):
        load_credentials(both)
    legacy.write_text("abc\n")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_credentials(ApiSettings(token_file=legacy))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_credentials(ApiSettings(token_file=tmp_path / "missing"))
    assert repr(credentials.get(LEGACY_NAME)) == "Credential('api-token')"  # never the token


def test_links_need_a_named_signer_when_there_are_several_credentials(tmp_path: Path) -> None:
    tokens = _tokens(tmp_path, f"a:{GOOD}\nb:{GOOD}b\n")
    several = ApiSettings(tokens_file=tokens, public_url="https://vw.example.org")
    with pytest.raises(ConfigError, match="name the one that signs acknowledge links"):
        ack_link_maker(several, load_credentials(several))
    unknown = several.model_copy(update={"link_credential": "c"})
    with pytest.raises(ConfigError, match="'c' is not among the API credentials"):
        ack_link_maker(unknown, load_credentials(unknown))
    named = several.model_copy(update={"link_credential": "b"})
    link = ack_link_maker(named, load_credentials(named))("x")
    assert link is not None and link.startswith("https://vw.example.org/ack/x?sig=")
    assert ack_link_maker(ApiSettings(), None)("x") is None
    assert start_api(ApiSettings(), None) is None  # type: ignore[arg-type]
