"""Resolve jars from Maven Central with the Ivy jar that ships inside pyspark, and cache them.

A resolved set is recorded in a manifest beside the jars, so a second run needs no network.
Jars that Spark already carries (same artifact name) are dropped from a set meant for Spark's
classpath, as ``spark-submit --packages`` does, so two versions of one library never meet.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import structlog

from vitalwatch.errors import InfrastructureError
from vitalwatch.infra.java import Java

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Coordinate:
    group: str
    artifact: str
    version: str

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


def pyspark_jars_dir() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "jars"


def _ivy_jar() -> Path:
    found = sorted(pyspark_jars_dir().glob("ivy-*.jar"))
    if not found:
        raise InfrastructureError(
            f"no ivy-*.jar in {pyspark_jars_dir()}; "
            "reinstall pyspark (pip install --force-reinstall pyspark)"
        )
    return found[-1]


def _ivy_xml(name: str, coordinates: Sequence[Coordinate]) -> str:
    deps = "\n".join(
        f"    <dependency org={quoteattr(c.group)} name={quoteattr(c.artifact)} "
        f'rev={quoteattr(c.version)} conf="default->default"/>'
        for c in coordinates
    )
    return (
        '<ivy-module version="2.0">\n'
        f'  <info organisation="vitalwatch" module={quoteattr(name)}/>\n'
        f"  <dependencies>\n{deps}\n  </dependencies>\n</ivy-module>\n"
    )


def _artifact_name(jar: Path) -> str:
    """``kafka-clients-4.0.0.jar`` -> ``kafka-clients`` (the name without version)."""
    parts = jar.stem.split("-")
    for i, part in enumerate(parts):
        if part[:1].isdigit():
            return "-".join(parts[:i])
    return jar.stem


def resolve(
    name: str,
    coordinates: Sequence[Coordinate],
    cache_dir: Path,
    java: Java,
    *,
    skip_jars_in: Path | None = None,
) -> list[Path]:
    """Jars for ``coordinates`` and their runtime dependencies, cached under ``cache_dir/name``."""
    target = cache_dir / "jars" / name
    manifest = target / "manifest.json"
    wanted = [str(c) for c in coordinates]
    if manifest.is_file():
        recorded = json.loads(manifest.read_text())
        jars = [target / j for j in recorded["jars"]]
        if recorded["coordinates"] == wanted and all(j.is_file() for j in jars):
            return jars
    target.mkdir(parents=True, exist_ok=True)
    ivy_file = target / "ivy.xml"
    ivy_file.write_text(_ivy_xml(f"{name}-resolver", coordinates))
    log.info("jars.resolving", set=name, coordinates=wanted)
    command = [
        str(java.executable), "-jar", str(_ivy_jar()),
        "-ivy", str(ivy_file), "-confs", "default",
        "-cache", str(cache_dir / "ivy"),
        "-retrieve", str(target / "lib" / "[artifact]-[revision](-[classifier]).[ext]"),
        "-sync",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise InfrastructureError(
            f"could not resolve {', '.join(wanted)} from Maven Central "
            f"(Ivy exit {result.returncode}); "
            "check network access to Maven Central, or copy a filled cache to "
            f"{cache_dir}.\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    jars = sorted((target / "lib").glob("*.jar"))
    if skip_jars_in is not None:
        present = {_artifact_name(j) for j in skip_jars_in.glob("*.jar")}
        jars = [j for j in jars if _artifact_name(j) not in present]
    manifest.write_text(
        json.dumps({"coordinates": wanted, "jars": [str(j.relative_to(target)) for j in jars]})
    )
    log.info("jars.resolved", set=name, jars=len(jars))
    return jars
