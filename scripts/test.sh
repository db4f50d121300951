#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite against real servers:
# system packages (PostgreSQL, Java, Maven, Docker engine, Chromium), .venv, the Kafka
# broker's jars, kube-apiserver and etcd, the prefect venv (all cached in ~/.cache/cancelbus),
# then lint, type checks and pytest. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/ensure-system-deps.sh
scripts/venv.sh
echo "==> fetching the Kafka broker (cached after the first time)"
.venv/bin/cancelbus kafka fetch
echo "==> kube-apiserver and etcd (built from the Go module proxy once, then cached)"
scripts/build-kube.sh >/dev/null
echo "==> the real prefect package in its own venv, for the compatibility tests (cached)"
.venv/bin/python -m tests.clients.prefect_venv
echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy (strict)"
.venv/bin/mypy services schemas tests bench
echo "==> pytest"
set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests"
    exit 0
fi
exit "$status"
