"""All configuration, in one ``Settings`` object built once at the entry point and passed down.

Precedence, highest first (see ``Settings.settings_customise_sources``):
constructor arguments (the CLI) > environment (``VITALWATCH_*``, nested with ``__``) >
a YAML config file (``VITALWATCH_CONFIG`` or ``--config``) > the defaults below, which are the
local development set-up: broker on 127.0.0.1:9092, Spark ``local[*]``, state in ``./var``.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from vitalwatch.contracts.readings import PAIRING_WAIT_MS, Signal
from vitalwatch.durations import DurationMs
from vitalwatch.errors import ConfigError
from vitalwatch.yaml_input import YamlInputError, YamlModel, line_of, load_yaml


class _Section(YamlModel):
    """A group of settings: an unknown key in it is refused, never ignored (a misspelt security
    option must not leave the weaker default in force)."""

    model_config = ConfigDict(extra="forbid")


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecuritySettings(_Section):
    """How every Kafka client connects (TLS, SASL): the daemon's own and Spark's source and sink.

    Translated for both client libraries in ``vitalwatch.kafka_security``. An inconsistent
    combination stops start-up with the setting to fix.
    """

    protocol: SecurityProtocol = "PLAINTEXT"
    # TLS: the CA certificate(s), PEM, that signed the brokers' certificates; unset: the trust
    # store of the system (librdkafka) and of the JVM (Spark).
    ca_file: Path | None = None
    # Mutual TLS: one PEM file with this client's certificate chain and unencrypted private key.
    client_certificate_file: Path | None = None
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str | None = None
    # The SASL password, from VITALWATCH_KAFKA__SECURITY__PASSWORD or, better, a file only this
    # service reads (systemd LoadCredential): password_file. Never logged.
    password: SecretStr | None = None
    password_file: Path | None = None
    # SASL PLAIN sends the password as it is; over SASL_PLAINTEXT anyone on the network path
    # reads it. Refused unless the operator opts in, knowingly (a test network, say).
    allow_plain_without_tls: bool = False

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def sasl_password(self) -> str:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is None:
            raise ConfigError(
                f"kafka.security.protocol {self.protocol} needs a password: set "
                "VITALWATCH_KAFKA__SECURITY__PASSWORD_FILE to a file holding it"
            )
        try:
            return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"kafka.security.password_file {self.password_file} cannot be read "
                f"({exc.strerror}); point VITALWATCH_KAFKA__SECURITY__PASSWORD_FILE at a file "
                "this service can read (systemd: LoadCredential)"
            ) from exc

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecuritySettings:
        if self.sasl:
            self._check_sasl()
        else:
            for name in ("username", "password", "password_file"):
                if getattr(self, name) is not None:
                    raise ConfigError(
                        f"kafka.security.{name} is set but kafka.security.protocol "
                        f"{self.protocol} does not use SASL; set the protocol to SASL_SSL "
                        f"(VITALWATCH_KAFKA__SECURITY__PROTOCOL) or remove {name}"
                    )
        for name in ("ca_file", "client_certificate_file"):
            path = getattr(self, name)
            if path is None:
                continue
            if not self.tls:
                raise ConfigError(
                    f"kafka.security.{name} is set but kafka.security.protocol {self.protocol} "
                    "does not use TLS; set the protocol to SSL or SASL_SSL or remove it"
                )
            if not path.is_file():
                raise ConfigError(
                    f"kafka.security.{name} {path} is not a file; point "
                    f"VITALWATCH_KAFKA__SECURITY__{name.upper()} at a PEM file"
                )
        return self

    def _check_sasl(self) -> None:
        if self.sasl_mechanism == "PLAIN" and not self.tls and not self.allow_plain_without_tls:
            raise ConfigError(
                "kafka.security.sasl_mechanism PLAIN over SASL_PLAINTEXT sends the password "
                "unencrypted; use SASL_SSL, or SCRAM-SHA-512, or opt in with "
                "kafka.security.allow_plain_without_tls: true"
            )
        if not self.username:
            raise ConfigError(
                f"kafka.security.protocol {self.protocol} needs kafka.security.username; "
                "set VITALWATCH_KAFKA__SECURITY__USERNAME"
            )
        if self.password is not None and self.password_file is not None:
            raise ConfigError(
                "kafka.security.password and kafka.security.password_file are both set; "
                "keep one (password_file is preferred)"
            )
        if not self.sasl_password():
            raise ConfigError(
                "the Kafka SASL password is empty; put it in kafka.security.password_file "
                "or VITALWATCH_KAFKA__SECURITY__PASSWORD"
            )


class KafkaSettings(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    security: KafkaSecuritySettings = Field(default_factory=KafkaSecuritySettings)
    # Escape hatches, one per client library because they name properties differently
    # (ssl.ca.location vs ssl.truststore.location): extra librdkafka properties for the daemon's
    # own clients (notifier, heartbeat, topic creation, health), and extra Java client
    # properties for Spark's Kafka source and sink (given without the "kafka." prefix).
    client_properties: dict[str, SecretStr] = Field(default_factory=dict)
    java_client_properties: dict[str, SecretStr] = Field(default_factory=dict)


class TopicSettings(_Section):
    # The reading topics, one per signal (vitalwatch.contracts.readings), named like it.
    heart_rate: str = "vitals.heart_rate"
    blood_pressure: str = "vitals.blood_pressure"
    spo2: str = "vitals.spo2"
    respiration: str = "vitals.respiration"
    temperature: str = "vitals.temperature"
    consciousness: str = "vitals.consciousness"
    alerts: str = "vitalwatch.alerts"
    deadletter: str = "vitalwatch.deadletter"
    # Ticks from the daemon that make the query run its timers when no feed sends anything.
    heartbeat: str = "vitalwatch.heartbeat"
    # Used when vitalwatch creates missing topics (local set-ups); one Spark task per partition.
    partitions: int = Field(default=2, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    def reading(self, signal: Signal) -> str:
        """The topic of a signal's readings."""
        topic: str = getattr(self, signal.value)
        return topic

    def readings(self) -> list[str]:
        """The reading topics, in ``Signal``'s order."""
        return [self.reading(signal) for signal in Signal]


class SparkSettings(_Section):
    master: str = "local[*]"
    # Sized to the cores: Spark's default of 200 is 13-15x slower on a 2-core machine.
    shuffle_partitions: int = Field(default=2, ge=1)
    # Processing-time trigger. A stateful query runs a batch every trigger, so 0 would spin.
    trigger: DurationMs = 1000
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    # Kafka records a micro-batch reads at most (null: no cap). After downtime the backlog is
    # read in bounded batches, each committed and reported as it completes. One batch holding
    # the whole backlog (1.8 million readings after 30 min down at 1,000 patients: ~6 min at the
    # ~5,000 readings/s measured on 2 cores) reports nothing while it runs: readiness fails after
    # supervisor.stale_after (60 s), the watchdog pings stop, systemd kills the unit WatchdogSec
    # (120 s) later, and the restarted daemon meets the same backlog, a restart loop. 50,000
    # records is a ~10 s batch here; live, a ward of up to 50,000 patients at 1 Hz fits one.
    max_offsets_per_trigger: int | None = Field(default=50_000, ge=1)
    # Hash buckets of patients the rule state is kept in: one state call per bucket with
    # readings per micro-batch, and at most this many tasks evaluate rules at once (so at least
    # ``shuffle_partitions``; more on a cluster). Each call costs ~6 ms before any rule runs:
    # 16 instead of 64 cut a live batch at 1,000 patients from 0.74 to 0.52 s (bench/LATENCY.md).
    # Fixed when a checkpoint is created: a checkpoint keeps the count it was made with
    # (``stream.job.checkpoint_buckets``), since Spark cannot re-bucket its state.
    state_buckets: int = Field(default=16, ge=1)
    driver_memory: str = "1g"
    # The Python interpreter Spark's Python workers run. Unset: the interpreter vitalwatch itself
    # runs in (its virtual environment), which has the packages the rules need. Spark's own
    # default is whatever ``python3`` is first on PATH, which under systemd is not the venv's:
    # every job then failed with ModuleNotFoundError. Set it for a Spark cluster whose workers
    # have vitalwatch installed elsewhere (the interpreter's path on the workers).
    worker_python: str | None = None
    # Free-form extra Spark conf, e.g. {"spark.executor.memory": "2g"} on a cluster.
    conf: dict[str, str] = Field(default_factory=dict)


class RuleSettings(_Section):
    directory: Path = Path("rules")
    # How far a reading may lag the newest reading of the same signal for the same patient and
    # still be evaluated in order; later ones are dead-lettered as late. Detection waits this
    # long. 0: a reading is evaluated in the micro-batch it arrives in (Kafka keeps a patient's
    # readings of a signal in the order they were published; bench/LATENCY.md measured none out
    # of order in the simulator, the PhysioNet replay and the fault tests).
    allowed_lateness: DurationMs = Field(default=0, ge=0)
    # How long a rule that pairs signals (``derived``: a cuff reading with the heart rate before
    # it) waits for the other feed, when that one has gone quiet, before evaluating what it
    # holds; at least ``allowed_lateness``. The signals come on different topics, in no order
    # relative to each other, so pairing waits for a later heart rate or this much silence: set
    # it to how far apart a gateway's signals can reach Kafka (PAIRING_WAIT_MS: the default).
    pairing_wait: DurationMs = Field(default=PAIRING_WAIT_MS, ge=0)
    # How far a reading's event time may be ahead of its Kafka record's timestamp (when it was
    # published); further ahead, it is dead-lettered as ``future`` and not evaluated. A device
    # clock stamping a reading minutes ahead would otherwise move that patient's watermark ahead
    # and make its correct readings late for as long, hiding their alerts. Clock error is the
    # only cause (buffering makes readings older, never newer), so this bounds what one bad
    # stamp can hide while tolerating a monitor clock that drifts by seconds.
    max_clock_skew: DurationMs = Field(default=30_000, ge=0)
    # A patient with no reading of any signal for this long (wall time) is forgotten: its rule
    # state is dropped, bounding the state store as patients are discharged.
    state_ttl: DurationMs = Field(default=86_400_000, gt=0)


class NotifySettings(_Section):
    # apprise URLs; they carry secrets, so they are SecretStr and never logged unmasked.
    urls: list[SecretStr] = Field(default_factory=list)
    # A file with one apprise URL per line (systemd LoadCredential, docker secrets).
    urls_file: Path | None = None
    notify_resolved: bool = False
    max_attempts: int = Field(default=5, ge=1)
    retry_backoff: DurationMs = 1000
    consumer_group: str = "vitalwatch-notifier"
    # Routing tree, receivers, tiers and inhibition (YAML); None: the embedded default, which
    # sends everything to the ``urls`` above (see vitalwatch/notify/config/routing.py).
    routing_file: Path | None = None
    # How often the dispatcher looks at groups, escalations and silences.
    tick: DurationMs = 250
    # An alert with no message for this long (no resolve ever came) stops being tracked:
    # no more escalation or reminders; it is audited as expired.
    open_alert_ttl: DurationMs = 86_400_000

    def apprise_urls(self) -> list[str]:
        urls = [u.get_secret_value() for u in self.urls]
        if self.urls_file is not None:
            try:
                lines = self.urls_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(
                    f"notify.urls_file {self.urls_file} cannot be read ({exc.strerror}); "
                    "point VITALWATCH_NOTIFY__URLS_FILE at a readable file"
                ) from exc
            urls += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        return urls


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9464, ge=0, le=65535)


class SupervisorSettings(_Section):
    """How ``vitalwatch run`` restarts a failed query, judges readiness and drains on SIGTERM."""

    # A failed query restarts from its checkpoint after restart_backoff, doubling per failure
    # in failure_window up to restart_backoff_max; failure number max_failures ends the process.
    restart_backoff: DurationMs = 1000
    restart_backoff_max: DurationMs = 60_000
    max_failures: int = Field(default=5, ge=1)
    failure_window: DurationMs = 600_000
    # No batch and no idle report from the query for this long: not ready, no watchdog ping.
    stale_after: DurationMs = 60_000
    # SIGTERM: wait at most this long for the running micro-batch to finish, then stop anyway.
    drain_timeout: DurationMs = 30_000


class ApiSettings(_Section):
    """The notification HTTP API (acknowledge, silence): authenticated, loopback by default,
    on its own port apart from the unauthenticated metrics endpoint (``vitalwatch.notify.api``).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9465, ge=0, le=65535)
    # The credentials, one per person or system: ``name:token`` lines (systemd LoadCredential).
    # Each acknowledgement and silence is recorded under the name of the token that made it.
    tokens_file: Path | None = None
    # One credential alone, named "api-token" (the setting before tokens_file). Without either
    # file the API is off.
    token_file: Path | None = None
    # Base URL clinicians reach the API at, for acknowledge links in notifications (optional).
    public_url: str | None = None
    # The credential that signs acknowledge links, and under whose name a link acknowledges;
    # needed when there is more than one credential and public_url is set.
    link_credential: str | None = None
    # The longest silence anyone may set, through the API or ``vitalwatch silence add``:
    # a silence should not outlive the shift that set it.
    max_silence: DurationMs = Field(default=43_200_000, gt=0)
    # TLS for the API itself (PEM files); required when host is not a loopback address,
    # unless allow_plain_http says the network in between is trusted (a TLS proxy on the host).
    tls_certificate_file: Path | None = None
    tls_key_file: Path | None = None
    allow_plain_http: bool = False
    # A request must arrive whole and be answered within this time of the connection opening
    # (or of the previous answer on it); otherwise the connection is closed.
    request_timeout: DurationMs = Field(default=10_000, gt=0)
    # Connections at once; one more is answered 503 until one of them ends.
    max_connections: int = Field(default=32, ge=1)

    @model_validator(mode="after")
    def _fail_closed(self) -> ApiSettings:
        for name in ("tls_certificate_file", "tls_key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ConfigError(
                    f"api.{name} {path} is not a file; point VITALWATCH_API__{name.upper()} "
                    "at a PEM file"
                )
        if self.tls_key_file is not None and self.tls_certificate_file is None:
            raise ConfigError("api.tls_key_file is set without api.tls_certificate_file; set both")
        if not (self.tls or self.allow_plain_http or _loopback(self.host)):
            raise ConfigError(
                f"api.host {self.host} is not a loopback address and the API has no TLS: set "
                "api.tls_certificate_file and api.tls_key_file, or api.allow_plain_http: true "
                "if a TLS proxy on this host is the only way in"
            )
        return self

    @property
    def tls(self) -> bool:
        return self.tls_certificate_file is not None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewaySettings(_Section):
    """The gateways: HL7 v2 (``vitalwatch gateway hl7``): MLLP in, readings to Kafka; and the
    FHIR endpoint (``vitalwatch gateway fhir``), which shares ``delivery_timeout``.

    MLLP has neither authentication nor encryption; the listener is on loopback unless
    ``host`` names another address (a hospital network segment the monitors' gateway reaches).
    """

    host: str = "127.0.0.1"
    # 2575: the port IANA registered for HL7 over MLLP.
    port: int = Field(default=2575, ge=0, le=65535)
    # How long a message's readings may take to be confirmed by the brokers (acks=all) before it
    # is answered AE and the sender sends it again; also the producer's message timeout.
    delivery_timeout: DurationMs = Field(default=10_000, ge=1000)
    # The largest MLLP block read; a longer one ends its connection (no message boundary to
    # resume from). A PCD-01 message of a full monitor is a few kilobytes.
    max_message_bytes: int = Field(default=1_048_576, ge=1024)
    # The FHIR endpoint (``vitalwatch gateway fhir``): on ``api.host`` at this port, with the
    # API's credentials, TLS and limits (``vitalwatch.gateway.fhir_api``).
    fhir_port: int = Field(default=9466, ge=0, le=65535)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VITALWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    # Root of everything vitalwatch writes: checkpoints, notification log, local broker data.
    state_dir: Path = Path("var")
    # Downloaded jars (Kafka broker, Spark connector), shared between projects and runs.
    cache_dir: Path = Path.home() / ".cache" / "vitalwatch"
    # Patient roster (CSV or Parquet: patient_id, bed, ward, <rule-id>.<field> overrides).
    roster: Path | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    rules: RuleSettings = Field(default_factory=RuleSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def checkpoint_dir(self) -> Path:
        return self.state_dir / "checkpoints"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _CheckedEnvSource(settings_cls)]
        if settings_cls.model_config.get("yaml_file"):
            sources.append(_ConfigFileSource(settings_cls))
        return tuple(sources)


ENV_PREFIX = "VITALWATCH_"
CONFIG_VARIABLE = "VITALWATCH_CONFIG"


def _section_of(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def setting_variables(
    model: type[BaseModel] | None = None, prefix: str = ENV_PREFIX
) -> dict[str, str]:
    """Every variable a setting is read from, with how its value is written: ``text``, ``json``
    (a list, a mapping or a whole section), or ``mapping`` (JSON, or one key per variable below
    it: ``VITALWATCH_SPARK__CONF__<KEY>``)."""
    model = Settings if model is None else model
    names: dict[str, str] = {}
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        section = _section_of(field.annotation)
        origin = typing.get_origin(field.annotation)
        if section is not None:
            names[variable] = "json"
            names.update(setting_variables(section, variable + "__"))
        elif origin is dict:
            names[variable] = "mapping"
        else:
            names[variable] = "json" if origin in (list, set, tuple) else "text"
    return names


def _closest(name: str, known: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else "; see the Configuration table in README.md"


class _CheckedEnvSource(EnvSettingsSource):
    """``VITALWATCH_*`` variables, checked before they are read: an unknown name stops start-up
    (``VITALWATCH_KAFKA__SECURITY__PROTOCL=SASL_SSL`` used to leave the connection in
    PLAINTEXT), and a value that must be JSON and is not is named with its line and column."""

    def __call__(self) -> dict[str, Any]:
        known = setting_variables()
        mappings = [name + "__" for name, how in known.items() if how == "mapping"]
        problems = []
        for variable, value in sorted(os.environ.items()):
            name = variable.upper()
            if not name.startswith(ENV_PREFIX) or name == CONFIG_VARIABLE:
                continue
            if name not in known and not name.startswith(tuple(mappings)):
                problems.append(f"  {variable}: no such setting{_closest(name, known)}")
            elif known.get(name) in ("json", "mapping") and value:
                try:
                    json.loads(value)
                except json.JSONDecodeError as exc:
                    example = '["a", "b"]' if known[name] == "json" else '{"key": "value"}'
                    problems.append(
                        f"  {variable}: not valid JSON ({exc.msg} at line {exc.lineno} column "
                        f"{exc.colno}), e.g. '{example}'"
                    )
        if problems:
            raise ConfigError(_invalid(problems))
        return super().__call__()


class _ConfigFileSource(YamlConfigSettingsSource):
    """The YAML config file, read strictly (``vitalwatch.yaml_input``: no duplicate keys, errors
    with their line), which may not hold the Kafka password: config files are read and copied
    by more people than credentials are."""

    def _read_file(self, file_path: Path) -> dict[str, Any]:
        document = _read_config_file(file_path)
        if not isinstance(document, dict):
            raise ConfigError(f"config file {file_path}: expected a mapping of settings")
        return document

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        kafka = data.get("kafka")
        security = kafka.get("security") if isinstance(kafka, dict) else None
        if isinstance(security, dict) and "password" in security:
            raise ConfigError(
                "kafka.security.password is in the config file; put the password in a file "
                "only this service reads and name it in kafka.security.password_file (systemd: "
                "LoadCredential), or set VITALWATCH_KAFKA__SECURITY__PASSWORD"
            )
        return data


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the one Settings object; validation errors become a message saying how to fix them.

    The YAML config file is ``config_file`` (``--config``) or else ``$VITALWATCH_CONFIG``.
    """
    named = os.environ.get("VITALWATCH_CONFIG")
    path = config_file or (Path(named) if named else None)
    settings_cls: type[Settings] = Settings
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; pass an existing YAML file")
        config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": path})
        settings_cls = type("Settings", (Settings,), {"model_config": config})
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from None


def _read_config_file(path: Path) -> Any:
    try:
        return load_yaml(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc})") from None
    except YamlInputError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def _explain(exc: ValidationError, config_file: Path | None) -> str:
    document = _read_config_file(config_file) if config_file is not None else None
    known = [
        name.removeprefix(ENV_PREFIX).lower().replace("__", ".") for name in setting_variables()
    ]
    lines: list[str] = []
    for error in exc.errors():
        path = [str(p) for p in error["loc"]]
        key = ".".join(path)
        line = line_of(document, error["loc"]) if document is not None else None
        where = f" (line {line} of {config_file})" if line else ""
        if error["type"] == "extra_forbidden":
            lines.append(f"  {key}: no such setting{_closest(key, known)}{where}")
            continue
        env = ENV_PREFIX + "__".join(p.upper() for p in path)
        lines.append(
            f"  {key}: {error['msg']}{where} "
            f"(set it with {env} or the key {key} in the config file)"
        )
    return _invalid(lines)


def _invalid(problems: list[str]) -> str:
    """One problem on one line; several, a line each under a heading."""
    if len(problems) == 1:
        return f"invalid settings: {problems[0].strip()}"
    return "\n".join(["invalid settings:", *problems])
