"""The routing config: validation errors that name the place, the route tree, the receivers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from vitalwatch.contracts.alerts import Severity
from vitalwatch.errors import ConfigError
from vitalwatch.notify.config.matchers import Matcher
from vitalwatch.notify.config.receivers import build_named_receivers
from vitalwatch.notify.config.routing import build_router, load_routing, parse_routing
from vitalwatch.settings import NotifySettings

TREE = """
route:
  receiver: ward
  group_wait: 20s
  routes:
    - name: icu
      matchers: ["ward=~ICU-.*"]
      receiver: icu
      routes:
        - name: icu-high
          matchers: [severity=high]
          receiver: rapid
          group_wait: 0s
    - name: cardiology-copy
      matchers: [team=cardiology]
      receiver: cardiology
      continue: true
    - name: cardiology-ward
      matchers: [team=cardiology]
      receiver: ward
receivers:
  - {name: ward, tiers: [{urls: ["json://localhost/ward"]}]}
  - {name: icu, tiers: [{urls: ["json://localhost/icu"]}]}
  - {name: rapid, tiers: [{urls: ["json://localhost/rapid"]}]}
  - {name: cardiology, tiers: [{urls: ["json://localhost/cardio"]}]}
"""


def names(labels: dict[str, str]) -> list[str]:
    return [r.name for r in build_router(parse_routing(TREE, "t.yaml")).match(labels)]


def test_the_deepest_matching_route_wins_and_continue_goes_on() -> None:
    assert names({"ward": "ICU-A", "severity": "high"}) == ["icu-high"]
    assert names({"ward": "ICU-A", "severity": "low"}) == ["icu"]
    assert names({"ward": "5B", "team": "cardiology"}) == ["cardiology-copy", "cardiology-ward"]
    assert names({"ward": "5B"}) == ["root"]


def test_children_inherit_timing_and_receiver_unless_they_set_their_own() -> None:
    router = build_router(parse_routing(TREE, "t.yaml"))
    icu, icu_high = router.find("icu"), router.find("icu-high")
    assert (icu.group_wait.medium, icu_high.group_wait.medium) == (20_000, 0)
    assert icu.group_by == ("patient_id",) and icu.repeat_interval_ms == 0


def test_group_wait_is_one_duration_or_one_per_severity_and_defaults_to_high_at_once() -> None:
    def waits(group_wait: str) -> list[int]:
        root = build_router(parse_routing(TREE.replace("group_wait: 20s", group_wait), "t.yaml"))
        return [root.root.group_wait.ms(s) for s in (Severity.HIGH, Severity.MEDIUM, Severity.LOW)]

    assert waits("group_wait: 20s") == [20_000, 20_000, 20_000]
    assert waits("group_wait: {high: 1s, medium: 2s, low: 1m}") == [1_000, 2_000, 60_000]
    assert waits("group_by: [patient_id]") == [0, 5_000, 30_000]  # none set: the default
    default = build_router(load_routing(None)).root.group_wait
    assert (default.high, default.medium, default.low) == (0, 5_000, 30_000)
    for bad, problem in [
        ("{high: 0s, medium: 5s}", "field 'group_wait.low': Field required"),
        ("{high: 0s, medium: 5s, low: 1m, critical: 0s}",
         "field 'group_wait.critical': Extra inputs are not permitted"),
        ("{high: 0s, medium: later, low: 1m}", "field 'group_wait.medium': Value error, 'later'"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=problem.replace("(", r"\(")):
            parse_routing(TREE.replace("group_wait: 20s", f"group_wait: {bad}"), "t.yaml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("receiver: rapid", "receiver: nobody"),
         "t.yaml: route 'icu-high': field 'receiver': unknown receiver 'nobody'"),
        (('["ward=~ICU-.*"]', '["ward~ICU"]'),
         "t.yaml: route 'icu': field 'matchers': Value error, 'ward~ICU' is not a matcher"),
        (("group_wait: 0s", "group_wait: soon"),
         "t.yaml: route 'icu-high': field 'group_wait': Value error, 'soon' is not a duration"),
        (('{name: icu, tiers: [{urls', '{name: icu, tiers: [{url'),
         "t.yaml: receiver 'icu': field 'tiers.0.url': Extra inputs are not permitted"),
        (("{name: rapid, tiers: [", "{name: rapid, template: long, tiers: ["),
         "t.yaml: receiver 'rapid': field 'template': Input should be 'short' or 'rich'"),
        (("name: cardiology-ward", "name: icu"), "t.yaml: route 'icu': duplicate name"),
    ],
)  # fmt: skip
def test_errors_name_the_file_the_route_or_receiver_and_the_field(edit, message) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_routing(TREE.replace(*edit), "t.yaml")
    assert str(raised.value).startswith(message), str(raised.value)


def test_unreadable_file_and_unknown_fallback_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_routing(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="field 'fallback': unknown receiver 'ops'"):
        parse_routing(TREE + "fallback: ops\n", "t.yaml")


def test_the_embedded_default_sends_everything_to_the_notify_urls() -> None:
    config = load_routing(None)
    notify = NotifySettings(urls=[SecretStr("json://localhost:1/hook")])
    receivers = build_named_receivers(config, notify, {})
    (tier,) = receivers["default"].tiers
    assert [r.service for r in tier.receivers] == ["json"]
    assert build_router(config).match({"severity": "low"})[0].receiver == "default"


def test_urls_come_from_files_and_the_environment_and_names_are_masked(tmp_path: Path) -> None:
    secret = tmp_path / "urls"
    secret.write_text("# pager\nmailto://nurse:s3cret@mail.example.org\n")
    config = parse_routing(
        "route: {receiver: r}\n"
        f"receivers: [{{name: r, tiers: [{{urls_file: {secret}, urls_env: HOOK}}]}}]\n",
        "t.yaml",
    )
    receivers = build_named_receivers(config, NotifySettings(), {"HOOK": "json://h/x?t=tok3n"})
    names = [r.name for r in receivers["r"].tiers[0].receivers]
    assert len(names) == 2 and not any("s3cret" in n or "tok3n" in n for n in names)
    with pytest.raises(ConfigError, match=r"tier 1: field 'urls_env': .* HOOK is not set"):
        build_named_receivers(config, NotifySettings(), {})


def test_matchers() -> None:
    labels = {"ward": "ICU-A", "severity": "high"}
    assert Matcher.parse("ward=~ICU-.*").matches(labels)
    assert not Matcher.parse("ward=~ICU").matches(labels)  # whole value
    assert Matcher.parse("team!=cardiology").matches(labels)  # missing label is ""
    assert Matcher.parse('severity="high"').matches(labels)
    assert Matcher.parse("severity!~high|medium").matches({"severity": "low"})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Matcher.parse("ward=~(")


def test_the_readme_routing_example_is_valid() -> None:
    import re

    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Notifications") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    config = parse_routing(example.group(1), "README.md")
    assert config.fallback == "it-oncall" and len(config.receivers[0].tiers) == 3


def test_receivers_can_take_urls_by_tag_from_an_apprise_config(tmp_path: Path) -> None:
    apprise_config = tmp_path / "apprise.yml"
    apprise_config.write_text(
        "urls:\n"
        "  - json://127.0.0.1:9/nurse:\n      tag: nurses, ward-5b\n"
        "  - json://user:pw@127.0.0.1:9/charge:\n      tag: charge\n"
    )
    tier = f"{{apprise_config: {apprise_config}, tags: [TAGS]}}"
    routing = f"route: {{receiver: r}}\nreceivers: [{{name: r, tiers: [{tier}]}}]\n"
    config = parse_routing(routing.replace("TAGS", "nurses"), "t.yaml")
    (target,) = build_named_receivers(config, NotifySettings(), {})["r"].tiers[0].receivers
    assert target.name.startswith("json://127.0.0.1:9/nurse") and target.service == "json"
    config = parse_routing(routing.replace("TAGS", "nobody"), "t.yaml")
    with pytest.raises(ConfigError, match=r"field 'tags': no URL in .* has tag nobody"):
        build_named_receivers(config, NotifySettings(), {})
    with pytest.raises(ConfigError, match="'tags' and 'apprise_config' go together"):
        parse_routing(routing.replace(f"apprise_config: {apprise_config}, ", ""), "t.yaml")


@pytest.mark.parametrize("tier", ["{}", "{urls: []}", "{escalate_after: 5m}"])
def test_a_tier_without_targets_is_refused_naming_the_receiver_and_the_tier(tier: str) -> None:
    routing = (
        "route: {receiver: oncall}\n"
        "receivers:\n"
        "  - {name: oncall, tiers: [{urls: ['json://localhost/a']}, TIER]}\n"
    ).replace("TIER", tier)
    with pytest.raises(ConfigError) as raised:
        parse_routing(routing, "t.yaml")
    assert str(raised.value).startswith(
        "t.yaml: receiver 'oncall': field 'tiers.1': tier 2 has no targets"
    ), str(raised.value)


ROOT_MATCHERS = """
route: {receiver: oncall, matchers: ["severity=high"]}
receivers:
  - {name: oncall, tiers: [{urls: ["json://127.0.0.1:1/x"]}]}
  - {name: it, tiers: [{urls: ["json://127.0.0.1:1/it"]}]}
"""


def test_a_root_that_can_leave_alerts_unmatched_needs_a_fallback() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_routing(ROOT_MATCHERS, "t.yaml")
    assert str(raised.value).startswith(
        "t.yaml: route 'root': field 'matchers': alerts that match none of them go nowhere"
    ), str(raised.value)
    config = parse_routing(ROOT_MATCHERS + "fallback: it\n", "t.yaml")
    assert build_router(config).match({"severity": "low"}) == []
