#!/usr/bin/env bash
# Set up and run a Switchboard server with demo data on http://127.0.0.1:8080/.
# Extra arguments go to `switchboard serve` (e.g. --port 9000, --db /tmp/x.db).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/switchboard serve --demo "$@"
