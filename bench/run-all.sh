#!/bin/sh
# Run every benchmark: each bench/*/run.sh gets the build directory.
# usage: bench/run-all.sh [BUILD_DIR]     (`make bench` passes build/)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
status=0
for script in "$ROOT"/bench/*/run.sh; do
	[ -x "$script" ] || continue
	echo "### $(basename "$(dirname "$script")")"
	if ! "$script" "$BUILD"; then
		echo "### $(basename "$(dirname "$script")"): FAILED" >&2
		status=1
	fi
	echo
done
exit $status
