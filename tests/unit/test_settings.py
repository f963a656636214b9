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
