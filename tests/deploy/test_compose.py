"""docker-compose.yml, checked statically (no Docker engine here): the services the issue names,
healthchecks, volumes for checkpoints, files it mounts exist, and its parts agree with each other
(Prometheus scrapes the daemon's port, Grafana's datasource is the dashboard's, the daemon's
environment is valid vitalwatch settings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from vitalwatch.settings import load_settings


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> source (a named volume, or a path relative to the repository)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def test_the_stack_has_every_part(compose) -> None:
    services = compose["services"]
    assert set(services) == {"kafka", "vitalwatch", "simulator", "mailpit", "prometheus", "grafana"}
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    for name in ("kafka", "vitalwatch", "mailpit", "prometheus", "grafana"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
    for name in ("vitalwatch", "simulator"):
        assert services[name]["depends_on"]["kafka"] == {"condition": "service_healthy"}
        assert services[name]["build"] == "." and (REPO / "Dockerfile").is_file()


def test_checkpoints_live_on_a_volume_and_health_is_readyz(compose) -> None:
    daemon = compose["services"]["vitalwatch"]
    env = daemon["environment"]
    state = mounts(daemon)[env["VITALWATCH_STATE_DIR"]]
    assert state in compose["volumes"]
    assert "/readyz" in " ".join(daemon["healthcheck"]["test"])
    assert "127.0.0.1:9464:9464" in daemon["ports"]
    assert int(daemon["stop_grace_period"].rstrip("s")) >= 60  # drain bound 30 s + 30 s
    assert daemon["restart"] == "on-failure"


def test_bind_mounts_and_secrets_exist(compose) -> None:
    for name, service in compose["services"].items():
        for target, source in mounts(service).items():
            if source.startswith("./"):
                assert (REPO / source).is_file(), f"{name}: {source} -> {target}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    for secret in compose["secrets"].values():
        assert (REPO / secret["file"]).is_file()


def test_the_daemon_environment_is_valid_settings(compose, monkeypatch) -> None:
    env = compose["services"]["vitalwatch"]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    urls_file = Path(env["VITALWATCH_NOTIFY__URLS_FILE"])
    assert urls_file == Path("/run/secrets/notify-urls")
    secret = compose["secrets"]["notify-urls"]["file"]
    urls = [u for u in (REPO / secret).read_text().splitlines() if not u.startswith("#")]
    assert urls and all(u.startswith("mailto://mailpit:1025") for u in urls)


def test_prometheus_and_grafana_are_wired_to_the_daemon(compose) -> None:
    prometheus = compose["services"]["prometheus"]
    prom_mounts = mounts(prometheus)
    config = yaml.safe_load((REPO / prom_mounts["/etc/prometheus/prometheus.yml"]).read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["vitalwatch:9464"]
    for rule_file in config["rule_files"]:
        assert f"/etc/prometheus/{rule_file}" in prom_mounts
    grafana = mounts(compose["services"]["grafana"])
    datasources = yaml.safe_load(
        (REPO / grafana["/etc/grafana/provisioning/datasources/vitalwatch.yaml"]).read_text()
    )["datasources"]
    assert datasources[0]["url"] == "http://prometheus:9090"
    dashboard = json.loads(
        (REPO / grafana["/var/lib/grafana/dashboards/vitalwatch.json"]).read_text()
    )
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {datasources[0]["uid"]}
    providers = yaml.safe_load(
        (REPO / grafana["/etc/grafana/provisioning/dashboards/vitalwatch.yaml"]).read_text()
    )["providers"]
    assert providers[0]["options"]["path"] == "/var/lib/grafana/dashboards"
