#!/bin/sh
# Install the Debian packages vessel needs to build and test, if missing.
# Used by `make run` and `make check`; safe to run again.
set -e
PKGS="meson ninja-build pkg-config gcc clang make
liburing-dev libjson-c-dev libmicrohttpd-dev libcmocka-dev libseccomp-dev
libnuma-dev libmnl-dev libzstd-dev zlib1g-dev uuid-dev
acpica-tools python3 python3-pytest python3-pytest-timeout qemu-utils qemu-system-x86
dnsmasq-base iperf3 openvswitch-switch
libclang-rt-14-dev busybox-static cpio e2fsprogs"
[ "$1" = "--print" ] && { echo $PKGS; exit 0; }

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "vessel: installing missing packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
