"""A/B of the latency defaults (issue: an immediate alert within seconds): the whole daemon live,
alternating policies (the defaults before and after, the trigger, the checkpoint), same code and
instrumentation in the same session.

    python -m bench.latency_defaults [--patients 1000] [--seconds 200] [--pairs 1]
                                     [--policies before,after]

Policies (``--policies``, run in that order in each pair):
- ``before``: ``rules.allowed_lateness`` 2 s (every reading held 2 s), ``rules.pairing_wait`` 2 s,
  and the embedded routing with one ``group_wait`` of 5 s for every severity;
- ``after``: the defaults (no hold for one-signal rules, a 500 ms pairing wait for cross-signal
  ones, a high alert's first notification sent at once);
- ``trigger-<ms>``: the defaults with that processing-time trigger (0: each micro-batch starts
  as soon as the last ends and there is new input);
- ``filecontext-checkpoint``: the defaults with Spark's default checkpoint file manager, on
  Hadoop's FileContext API, instead of the FileSystem-based one vitalwatch sets;
- ``buckets-<n>``: the defaults with ``spark.state_buckets`` at that (default 16);
- ``fetch-wait-<ms>``: the defaults with the source's consumers' ``fetch.max.wait.ms`` at that
  (the Java client's default: 500; vitalwatch's: ``job.SOURCE_FETCH_MAX_WAIT_MS``).

Prints each run's event -> notification p50/p99 and the per-stage breakdown (``bench.stages``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.harness import bench_settings, local_broker
from bench.live import live_latency
from vitalwatch.logs import configure_logging
from vitalwatch.notify.config.routing import DEFAULT_ROUTING

_BEFORE_ROUTING = DEFAULT_ROUTING.replace("group_wait: {high: 0s, medium: 5s, low: 30s}",
                                          "group_wait: 5s")  # fmt: skip


FILE_CONTEXT_CHECKPOINT_MANAGER = (
    "org.apache.spark.sql.execution.streaming.checkpointing.FileContextBasedCheckpointFileManager"
)


def policy(name: str, workdir: Path) -> dict[str, Any]:
    """The settings overrides of a named policy (see the module's docstring)."""
    if name == "before":
        routing = workdir / "routing-before.yaml"
        routing.write_text(_BEFORE_ROUTING)
        return {
            "rules": {"allowed_lateness": 2000, "pairing_wait": 2000},  # ms
            "notify": {"routing_file": str(routing)},
        }
    if name == "after":
        return {}
    if name.startswith("trigger-"):
        # With its unit: a bare number in the settings is seconds.
        return {"spark": {"trigger": f"{int(name.removeprefix('trigger-'))}ms"}}
    if name == "filecontext-checkpoint":
        conf = {"spark.sql.streaming.checkpointFileManagerClass": FILE_CONTEXT_CHECKPOINT_MANAGER}
        return {"spark": {"conf": conf}}
    if name.startswith("buckets-"):
        return {"spark": {"state_buckets": int(name.removeprefix("buckets-"))}}
    if name.startswith("fetch-wait-"):
        wait_ms = str(int(name.removeprefix("fetch-wait-")))
        # As validated settings hold it (the overrides are applied without validation).
        return {"kafka": {"java_client_properties": {"fetch.max.wait.ms": SecretStr(wait_ms)}}}
    raise ValueError(f"unknown policy {name!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=200)
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--policies", default="before,after", help="comma-separated, in order")
    args = parser.parse_args(argv)
    assert _BEFORE_ROUTING != DEFAULT_ROUTING, "the embedded routing's group_wait has changed"
    configure_logging("console", "warning")
    workdir = Path(tempfile.mkdtemp(prefix="vitalwatch-latency-ab-"))
    with local_broker(workdir) as broker:
        for pair in range(args.pairs):
            for name in args.policies.split(","):
                overrides = policy(name, workdir)
                run = workdir / f"{name}{pair}"
                merged = ("rules", "kafka")  # over bench_settings' (rule directory, broker)
                others = {k: v for k, v in overrides.items() if k not in merged}
                settings = bench_settings(broker, run, **others)
                settings = settings.model_copy(
                    update={
                        k: getattr(settings, k).model_copy(update=overrides.get(k, {}))
                        for k in merged
                    }
                )
                result = live_latency(settings, args.patients, args.seconds)
                shown = ", ".join(f"{k} {v:,.3g}" for k, v in result.items())
                print(f"{name} (pair {pair + 1}): {shown}", flush=True)


if __name__ == "__main__":
    main()
