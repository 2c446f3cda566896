#!/usr/bin/env bash
# The test command `make test` runs:  scripts/run-tests.sh PYTHON [pytest arguments...]
#   1. every test except the room-level ones, here;
#   2. the room-level tests (marker `room`, tests/room/) inside a private network namespace
#      (scripts/netns-run.sh), so their WebRTC traffic cannot leave 127.0.0.0/8. Where no
#      namespace can be made, they are collected and skipped with the reason.
# pytest's exit code 5 (nothing selected, e.g. PYTEST_ARGS naming one file) counts as success
# for a phase, unless neither phase selected anything.
set -uo pipefail
cd "$(dirname "$0")/.."
py="$1"
shift

"$py" -m pytest -m "not room" "$@"
first=$?

if why="$(bash scripts/netns-run.sh --check)"; then
  bash scripts/netns-run.sh "$py" -m pytest -m room -p no:cacheprovider "$@"
  second=$?
else
  echo "room-level tests skipped: $why"
  SHOPME_NETNS_UNAVAILABLE="$why" "$py" -m pytest -m room -p no:cacheprovider "$@"
  second=$?
fi

if [ "$first" -eq 5 ] && [ "$second" -eq 5 ]; then exit 5; fi
[ "$first" -eq 5 ] && first=0
[ "$second" -eq 5 ] && second=0
[ "$first" -eq 0 ] && [ "$second" -eq 0 ]
