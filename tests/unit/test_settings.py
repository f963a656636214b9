from pathlib import Path

import pytest

from vitalwatch.durations import format_duration_ms, parse_duration_ms
from vitalwatch.errors import ConfigError
from vitalwatch.settings import load_settings


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("10m", 600_000), ("1h30m", 5_400_000), ("500ms", 500), (2, 2000)],
)
def test_durations_parse(text, ms) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "10", "ten seconds", "5x", "-3s", True])
def test_bad_durations_say_how_to_write_one(text) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(text)


def test_format_duration() -> None:
    assert format_duration_ms(150_000) == "2m30s"
    assert format_duration_ms(250) == "250ms"


def test_environment_overrides_config_file_overrides_defaults(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "vitalwatch.yaml"
    config.write_text("spark:\n  trigger: 2s\n  shuffle_partitions: 4\nhttp:\n  port: 9999\n")
    monkeypatch.setenv("VITALWATCH_SPARK__SHUFFLE_PARTITIONS", "8")
    settings = load_settings(config)
    assert settings.spark.trigger == 2000
    assert settings.spark.shuffle_partitions == 8
    assert settings.http.port == 9999
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"


def test_invalid_setting_names_the_variable_to_fix(monkeypatch) -> None:
    monkeypatch.setenv("VITALWATCH_SPARK__SHUFFLE_PARTITIONS", "zero")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "VITALWATCH_SPARK__SHUFFLE_PARTITIONS" in str(error.value)


def test_unknown_key_in_config_file_is_rejected(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("sparkk:\n  trigger: 2s\n")
    with pytest.raises(ConfigError, match="sparkk"):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_notify_urls_from_file_skip_comments(tmp_path: Path, monkeypatch) -> None:
    secrets = tmp_path / "urls"
    secrets.write_text("# receivers\njson://127.0.0.1:1/hook\n\n")
    monkeypatch.setenv("VITALWATCH_NOTIFY__URLS_FILE", str(secrets))
    assert load_settings().notify.apprise_urls() == ["json://127.0.0.1:1/hook"]


# Fail closed: a setting that is not understood stops start-up; it never leaves a default.


@pytest.mark.parametrize(
    ("variable", "closest"),
    [
        ("VITALWATCH_KAFKA__SECURITY__PROTOCL", "VITALWATCH_KAFKA__SECURITY__PROTOCOL"),
        ("VITALWATCH_NOTIFY__URL", "VITALWATCH_NOTIFY__URLS"),
        ("VITALWATCH_STATEDIR", "VITALWATCH_STATE_DIR"),
    ],
)
def test_an_unknown_variable_stops_start_up_naming_the_closest_setting(
    monkeypatch, variable, closest
) -> None:
    monkeypatch.setenv(variable, "SASL_SSL")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value) == (
        f"invalid settings: {variable}: no such setting; did you mean {closest}?"
    )


def test_keys_of_a_mapping_setting_may_be_given_one_variable_each(monkeypatch) -> None:
    monkeypatch.setenv("VITALWATCH_SPARK__CONF__SPARK.EXECUTOR.MEMORY", "2g")
    assert load_settings().spark.conf == {"spark.executor.memory": "2g"}


def test_an_unknown_key_in_the_config_file_names_the_closest_setting_and_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("spark:\n  trigger: 2s\nkafka:\n  security:\n    protocl: SASL_SSL\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert str(error.value) == (
        "invalid settings: kafka.security.protocl: no such setting; did you mean "
        f"kafka.security.protocol? (line 5 of {config})"
    )


def test_plain_sasl_without_tls_is_refused_unless_opted_in(monkeypatch) -> None:
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__USERNAME", "vitalwatch")
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__PASSWORD", "secret")
    with pytest.raises(ConfigError, match="PLAIN over SASL_PLAINTEXT sends the password"):
        load_settings()
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__ALLOW_PLAIN_WITHOUT_TLS", "true")
    assert load_settings().kafka.security.sasl_mechanism == "PLAIN"
    monkeypatch.delenv("VITALWATCH_KAFKA__SECURITY__ALLOW_PLAIN_WITHOUT_TLS")
    monkeypatch.setenv("VITALWATCH_KAFKA__SECURITY__SASL_MECHANISM", "SCRAM-SHA-512")
    assert load_settings().kafka.security.protocol == "SASL_PLAINTEXT"  # SCRAM: no password sent


def _cli_error(capsys, argv: list[str]) -> str:
    from vitalwatch.cli import main

    assert main(argv) == 2
    return capsys.readouterr().err


def test_invalid_json_in_a_variable_is_one_line_naming_it(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VITALWATCH_NOTIFY__URLS", '["json://127.0.0.1:1/x",')
    err = _cli_error(capsys, ["rules", "check", "rules"])
    assert err == (
        "vitalwatch: invalid settings: VITALWATCH_NOTIFY__URLS: not valid JSON (Expecting value "
        """at line 1 column 25), e.g. '["a", "b"]'\n"""
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "spark:\n  trigger: 1s\n  conf: [\n",
            "line 4, column 1: not valid YAML: expected the node",
        ),
        ("spark:\n  trigger: 1s\n  trigger: 60s\n", "line 3, column 3: duplicate key 'trigger'"),
    ],
)
def test_a_malformed_config_file_is_one_line_naming_file_line_and_column(
    tmp_path: Path, capsys, text, problem
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    err = _cli_error(capsys, ["--config", str(config), "rules", "check", "rules"])
    assert err.startswith(f"vitalwatch: config file {config}: {problem}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_true_is_not_a_number_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("topics:\n  partitions: true\n")
    with pytest.raises(ConfigError, match=r"topics.partitions: .*not true/false \(line 2 of"):
        load_settings(config)


def test_gateway_defaults_to_loopback_on_the_mllp_port(monkeypatch) -> None:
    monkeypatch.setenv("VITALWATCH_GATEWAY__DELIVERY_TIMEOUT", "5s")
    gateway = load_settings().gateway
    assert (gateway.host, gateway.port, gateway.delivery_timeout) == ("127.0.0.1", 2575, 5000)


@pytest.mark.parametrize(
    ("section", "variable"),
    [({"port": 70000}, "VITALWATCH_GATEWAY__PORT"),
     ({"delivery_timeout": "10ms"}, "VITALWATCH_GATEWAY__DELIVERY_TIMEOUT"),
     ({"max_message_bytes": 10}, "VITALWATCH_GATEWAY__MAX_MESSAGE_BYTES"),
     ({"tls": True}, "no such setting")],
)  # fmt: skip
def test_gateway_settings_are_checked(section, variable) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(gateway=section)
