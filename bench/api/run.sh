#!/bin/sh
# bench/api: REST API round trip (GET /vm, pause/resume: p50/p99) and VMs
# started per second, vessel vs QEMU (QMP query-status, stop/cont) in one run.
exec /usr/bin/python3 "$(dirname "$0")/api_bench.py" "${1:-build}"
