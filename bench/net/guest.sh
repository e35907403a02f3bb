#!/bin/sh
# bench/net's guest side: /check.sh of the L2 initramfs (run by the
# default /init, which powers off after it).  Linux's virtio_net on the
# VMM's NIC; iperf3 against the host's end of the tap.  Each phase is
# framed by "BENCH-START name" / "BENCH-END name key=value..." so that
# netbench.py can sample the VMM's CPU time around it.
#   net.ip=A/N net.peer=IP net.secs=S on the kernel command line.
for pass in 1 2; do
	for m in $(cat /modules.order); do insmod /lib/modules/*/"$m" 2>/dev/null; done
done
PATH=/opt/vessel:$PATH
arg() { sed -n "s/.*net\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
IP=$(arg ip)
PEER=$(arg peer)
SECS=$(arg secs)
nic=""
for n in /sys/class/net/*; do
	[ "$(cat "$n/type")" = 1 ] && [ -e "$n/device" ] && nic=${n##*/} && break
done
[ -n "$nic" ] || { echo "BENCH-FAIL no NIC"; exit 0; }
ip link set lo up
ip link set "$nic" up
ip addr add "$IP" dev "$nic"
for i in $(seq 30); do ping -c 1 -W 1 "$PEER" >/dev/null 2>&1 && break; done
echo "BENCH-NIC $nic $(cat /sys/class/net/$nic/device/driver/module/drivers 2>/dev/null | head -1)"

# iperf3's receiver-side total, in Mbit/s (the SUM line with -P > 1).
mbps() { awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") v = $(i - 1) } END { print v + 0 }'; }

phase() {
	name=$1
	shift
	echo "BENCH-START $name"
	v=$(iperf3 -c "$PEER" -t "$SECS" -f m "$@" 2>&1 | mbps)
	echo "BENCH-END $name mbps=${v%.*}"
}
phase g2h1
phase h2g1 -R
phase g2h4 -P 4
phase h2g4 -R -P 4
# Request/response: 1-byte TCP round trips would need a tool busybox
# lacks; ICMP echo through the same queues measures the path's latency.
echo "BENCH-START rtt"
avg=$(ping -c 50 -i 0.05 "$PEER" 2>/dev/null | awk -F/ '/min\/avg/ { print $4 }')
echo "BENCH-END rtt us=$(awk -v a="$avg" 'BEGIN { printf "%d", a * 1000 }')"
echo "BENCH-DONE"
