#!/usr/bin/env bash
# Install the system packages the local Kafka broker, PostgreSQL and Docker engine need (Debian, as root).
# Idempotent and quick when everything is present: apt runs only if something is missing.
set -euo pipefail

missing=()

say() { echo "ensure-system-deps: $*"; }

java_major() {  # major version of the java binary $1, 0 if it does not run
    local line
    line=$("$1" -version 2>&1 | grep -m1 -o 'version "[0-9][0-9.]*' || true)
    line=${line#version \"}
    if [[ -z $line ]]; then echo 0; return; fi
    if [[ $line == 1.* ]]; then line=${line#1.}; fi
    echo "${line%%.*}"
}

have_java17() {
    local java
    for java in "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
        if [[ -x $java && $(java_major "$java") -ge 17 ]]; then
            say "java 17+ found: $java ($(java_major "$java"))"
            return 0
        fi
    done
    return 1
}

have_postgres_server() {
    local bin
    for bin in /usr/lib/postgresql/*/bin "$(dirname "$(command -v initdb || echo /nonexistent/x)")"; do
        if [[ -x $bin/postgres && -x $bin/initdb ]]; then
            say "PostgreSQL server found: $bin"
            return 0
        fi
    done
    return 1
}

have_java17 || missing+=(openjdk-17-jdk-headless)
if command -v mvn >/dev/null; then say "maven found: $(command -v mvn)"; else missing+=(maven); fi
have_postgres_server || missing+=(postgresql)
# a private Docker engine for the tests (services/localinfra/docker.py) and its test image
if command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v runc >/dev/null; then
    say "docker engine found: $(command -v dockerd)"
else
    missing+=(docker.io)
fi
if dpkg -s busybox-static >/dev/null 2>&1; then
    say "static busybox found: /bin/busybox"
else
    missing+=(busybox-static)
fi
# headless Chromium for the web UI tests (driven by Playwright through executable_path)
if [[ -x /usr/bin/chromium ]]; then
    say "chromium found: /usr/bin/chromium"
else
    missing+=(chromium)
fi

if ((${#missing[@]} == 0)); then
    say "all present, nothing to install"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    say "missing ${missing[*]}: run this script as root (or apt-get install them)" >&2
    exit 1
fi

say "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
say "done"
