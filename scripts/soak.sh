#!/usr/bin/env bash
# Fault campaigns against the kvstash binary, bounded in time, printing figures:
#   scripts/soak.sh crash|corrupt|peer|all [--cycles N | --seconds S] [--kvstash PATH]
#                   [--dir DIR] [--short] [--seed N] [--lanes N] [--keep]
# crash: kill -9 `kvstash run` while it writes; no acknowledged prefix may be lost and
#        `kvstash verify` must be clean after every kill.
# corrupt: damage one store file (byte flips, bursts, truncations); every run must print
#        the no-store answer or refuse with an error, never a wrong answer or a crash.
# peer: hostile frames to `kvstash serve`; it must stay up, serve a real client and keep
#        its RSS bounded.
# Exit 0 when no promise was broken, 1 otherwise (each violation printed with how to
# reproduce it), 2 on bad usage. --help lists every option; docs/soak.md explains them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v python3 >/dev/null 2>&1; then
  echo "soak.sh: needs python3 (Debian: apt-get install python3)" >&2
  exit 2
fi
# -B: no __pycache__ in the source tree.
exec python3 -B "$here/soak/main.py" "$@"
