#!/bin/sh
# `make demo`: the demo test guest (tests/guests/demo.c): 2 vCPUs, its
# memory map, ACPI tables and PCI devices, then an ACPI power off.  It
# needs a /dev/kvm on this host (PVM will do).
set -e
BUILD=${1:-build}
exec "$BUILD/vessel" run --kernel "$BUILD/tests/guests/demo.elf" --cpus 2 --memory 256M --rng
