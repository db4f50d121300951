#!/usr/bin/env bash
# Set up everything on a fresh machine and run the embedded default: `cancelbus dev`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/venv.sh"
exec "$root/.venv/bin/cancelbus" dev "$@"
