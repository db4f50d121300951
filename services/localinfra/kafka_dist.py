"""The Kafka broker's jars (from Maven Central, cached outside the repo) and a Java to run them."""

from __future__ import annotations

import fcntl
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.localinfra.settings import LocalInfraSettings

log = logging.getLogger(__name__)

# The newest 4.x release that resolves with its full runtime closure from Maven Central.
DEFAULT_KAFKA_VERSION = "4.4.0"
MIN_JAVA_MAJOR = 17
_MARKER = ".complete"
_DEPENDENCY_PLUGIN_VERSION = "3.8.1"

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.cancelbus.localinfra</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin>
          <groupId>org.apache.maven.plugins</groupId>
          <artifactId>maven-dependency-plugin</artifactId>
          <version>{plugin_version}</version>
        </plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
"""

Progress = Callable[[str], None]


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_root(cache_dir: Path | None = None) -> Path:
    """`cache_dir`, else `$CANCELBUS_CACHE_DIR`, else `~/.cache/cancelbus`."""
    return cache_dir if cache_dir is not None else LocalInfraSettings().cache_dir


def ensure_kafka_jars(
    version: str = DEFAULT_KAFKA_VERSION,
    cache_dir: Path | None = None,
    *,
    progress: Progress = _stderr_progress,
) -> Path:
    """The folder holding `kafka_2.13:<version>` and its runtime closure, downloading it once.

    The marker file is written only after Maven succeeded, so an interrupted download is
    redone from scratch next time. A file lock keeps two processes from racing.
    """
    home = cache_root(cache_dir) / "kafka" / version
    libs = home / "libs"
    if (home / _MARKER).is_file():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / _MARKER).is_file():
            _download(version, libs, progress)
            (home / _MARKER).write_text(f"{version}\n")
    return libs


def _download(version: str, libs: Path, progress: Progress) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(
            "Maven (`mvn`) is needed to fetch the Kafka jars: run scripts/ensure-system-deps.sh "
            "or `apt-get install maven`"
        )
    shutil.rmtree(libs, ignore_errors=True)
    progress(
        f"Fetching Apache Kafka {version} jars from Maven Central into {libs} (first time only)…"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cancelbus-kafka-pom-") as project:
        pom = _POM.format(version=version, plugin_version=_DEPENDENCY_PLUGIN_VERSION)
        Path(project, "pom.xml").write_text(pom)
        try:
            _mvn(
                mvn,
                project,
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            )
            binding = _slf4j_binding(libs)
            if binding is not None:
                _mvn(
                    mvn,
                    project,
                    "dependency:copy",
                    f"-Dartifact={binding}",
                    f"-DoutputDirectory={libs}",
                )
        except BaseException:
            shutil.rmtree(libs, ignore_errors=True)
            raise
    jars = len(list(libs.glob("*.jar")))
    progress(f"Fetched {jars} jars for Kafka {version} in {time.monotonic() - started:.0f}s.")
    log.info("kafka %s jars cached in %s (%s jars)", version, libs, jars)


def _mvn(mvn: str, project: str, *args: str) -> None:
    done = subprocess.run(
        [mvn, "-q", "-B", *args], cwd=project, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-4000:]
        raise RuntimeError(f"mvn {' '.join(args)} failed (exit {done.returncode}):\n{output}")


def _slf4j_binding(libs: Path) -> str | None:
    """The log4j2 binding for the broker's slf4j, which Kafka's pom leaves out.

    Without it slf4j falls back to a no-op logger and the broker logs nothing at all,
    not even why it failed to start.
    """
    names = [jar.name for jar in libs.glob("*.jar")]
    if any(name.startswith("log4j-slf4j") for name in names):
        return None
    core = next((n for n in names if re.fullmatch(r"log4j-core-[\d.]+\.jar", n)), None)
    api = next((n for n in names if re.fullmatch(r"slf4j-api-[\d.]+\.jar", n)), None)
    if core is None or api is None:
        return None
    log4j_version = core.removeprefix("log4j-core-").removesuffix(".jar")
    artifact = "log4j-slf4j-impl" if api.startswith("slf4j-api-1.") else "log4j-slf4j2-impl"
    return f"org.apache.logging.log4j:{artifact}:{log4j_version}"


def java_major(java: Path) -> int | None:
    """The major version of a `java` binary (`1.8` counts as 8), None if it does not run."""
    try:
        done = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java(minimum: int = MIN_JAVA_MAJOR) -> Path:
    """`java` on PATH if it is recent enough, else the newest suitable JDK under /usr/lib/jvm."""
    on_path = shutil.which("java")
    if on_path is not None and (java_major(Path(on_path)) or 0) >= minimum:
        return Path(on_path)
    candidates = []
    for java in Path("/usr/lib/jvm").glob("*/bin/java"):
        major = java_major(java)
        if major is not None and major >= minimum:
            candidates.append((major, java))
    if not candidates:
        raise RuntimeError(
            f"Kafka needs Java {minimum}+: none on PATH or under /usr/lib/jvm. Run "
            "scripts/ensure-system-deps.sh or `apt-get install openjdk-17-jdk-headless`"
        )
    return max(candidates)[1]
