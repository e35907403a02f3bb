#!/bin/sh
# The Linux lane's guest side: /check.sh of the L2 guest's initramfs
# (busybox sh; the default /init of scripts/linux-image.sh runs it after
# loading the modules, then powers off).  Linux's own drivers are the
# clients of vessel's devices here.  `lane.check=NAME` on the kernel
# command line picks the check; each prints "G key=value" facts and
# "G-CHECK name ok|FAIL why" lines that tests/linux/lane.sh reads from the
# serial console.  Without lane.check= it gives an interactive shell
# (make run).

# The default /init loads modules in one pass of modules.order; modules
# whose dependencies came later need another pass.
for pass in 1 2; do
	for m in $(cat /modules.order); do insmod /lib/modules/*/"$m" 2>/dev/null; done
done
PATH=/opt/vessel:$PATH
CHECK=$(sed -n 's/.*lane\.check=\([^ ]*\).*/\1/p' /proc/cmdline)

ok() { echo "G-CHECK $1 ok${2:+ $2}"; }
fail() { echo "G-CHECK $1 FAIL $2"; FAILED=1; }
sum() { sha256sum | cut -d' ' -f1; }
by_serial() {
	for b in /sys/block/vd*; do
		[ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && echo "/dev/${b##*/}" && return
	done
}
acpi_errors() {
	dmesg | grep -E 'ACPI (BIOS )?(Error|Warning)|ACPI Exception|AE_[A-Z_]+'
}

check_boot() {
	echo "G nproc=$(nproc)"
	echo "G cpuinfo=$(grep -c '^processor' /proc/cpuinfo)"
	echo "G online=$(cat /sys/devices/system/cpu/online)"
	echo "G packages=$(cat /sys/devices/system/cpu/cpu*/topology/physical_package_id | sort -u | wc -l)"
	echo "G cores=$(cat /sys/devices/system/cpu/cpu*/topology/core_id | sort -u | wc -l)"
	echo "G siblings=$(awk '/^siblings/ {print $3; exit}' /proc/cpuinfo)"
	echo "G cpu_cores=$(awk '/^cpu cores/ {print $4; exit}' /proc/cpuinfo)"
	echo "G threads=$(cat /sys/devices/system/cpu/cpu0/topology/thread_siblings_list)"
	echo "G memtotal_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
	# The highest guest-physical address of System RAM, in MiB.
	echo "G ram_top_mb=$(grep 'System RAM' /proc/iomem | sed 's/^ *//; s/ .*//; s/.*-//' |
		while read -r end; do echo $(((0x$end + 1) >> 20)); done | sort -n | tail -1)"
	echo "G acpi_tables=$(ls /sys/firmware/acpi/tables | tr '\n' ',')"
	echo "G acpi_errors=$(acpi_errors | wc -l)"
	echo "G inputs=$(cat /sys/class/input/input*/name 2>/dev/null | tr ' \n' '_,')"
	dmesg | grep -iE 'button|LNXPWR' | sed 's/^/G dmesg: /'
	grep -iE 'button|evdev' /proc/modules | sed 's/^/G module: /' 
	acpi_errors | sed 's/^/G acpi: /'
	# Every CPU answers: run a task on each one.
	n=0
	for c in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$c" true && n=$((n + 1))
	done
	echo "G cpus_ran=$n"
	ok boot
}

# First boot: write a marker to the disk and reboot; the reset boots the
# same kernel again, which finds the marker and powers off.
check_reboot() {
	d=$(by_serial state)
	[ -n "$d" ] || { fail reboot "no state disk"; return; }
	m=$(dd if="$d" bs=16 count=1 2>/dev/null | tr -d '\0')
	if [ "$m" = "rebooted-once" ]; then
		echo "G second-boot"
		ok reboot
		return
	fi
	printf 'rebooted-once' | dd of="$d" bs=512 count=1 conv=sync,notrunc 2>/dev/null
	sync
	echo "G first-boot: rebooting"
	reboot -f
	sleep 10
}

check_blk() {
	RW=$(by_serial rw)
	RO=$(by_serial ro)
	QC=$(by_serial qcow)
	echo "G disks rw=$RW ro=$RO qcow=$QC"
	[ -n "$RW" ] && [ -n "$RO" ] && [ -n "$QC" ] && ok disks || fail disks "missing a disk"
	echo "G rw_queues=$(ls -d /sys/block/${RW#/dev/}/mq/* 2>/dev/null | wc -l)"
	# MSI-X: virtio-pci vectors show up as PCI-MSI interrupts.
	echo "G msix_irqs=$(grep -c 'PCI-MSI.*virtio' /proc/interrupts)"

	# ext4 on raw: files of several sizes, checksummed, read back cold.
	if /opt/vessel/mke2fs -q -F -t ext4 "$RW" && mount -t ext4 "$RW" /mnt; then
		ok mkfs
	else
		fail mkfs "mke2fs or mount failed"
	fi
	for n in 1 4096 65537 1048576 8388608; do
		head -c "$n" /dev/urandom >"/mnt/f$n"
		echo "G file f$n $(sum <"/mnt/f$n")"
	done
	dd if=/dev/urandom of=/mnt/big bs=1M count=32 2>/dev/null
	sync
	(cd /mnt && sha256sum f* >/tmp/sums)
	umount /mnt
	echo 3 >/proc/sys/vm/drop_caches
	if /opt/vessel/e2fsck -f -n "$RW" >/tmp/fsck 2>&1; then ok fsck; else fail fsck "$(tail -1 /tmp/fsck)"; fi
	mount -t ext4 "$RW" /mnt || fail remount "mount failed"
	if (cd /mnt && sha256sum -c -s /tmp/sums); then ok readback; else fail readback "mismatch"; fi
	rm /mnt/big
	sync
	t=$(fstrim -v /mnt 2>&1) && ok fstrim "$t" || fail fstrim "$t"
	umount /mnt || fail umount "umount failed"
	echo "G trimmed"

	# Read-only disk: the host's pattern reads back; writes are refused.
	[ "$(cat /sys/block/${RO#/dev/}/ro)" = 1 ] && ok ro-flag || fail ro-flag "not read-only"
	echo "G ro_sum $(sum <"$RO")"
	if dd if=/dev/zero of="$RO" bs=4096 count=1 oflag=direct 2>/dev/null; then
		fail ro-write "a write to the read-only disk succeeded"
	else
		ok ro-write
	fi

	# qcow2 overlay over a raw backing file: backing data, new data.
	echo "G qcow_base_sum $(dd if="$QC" bs=1M count=1 2>/dev/null | sum)"
	head -c 1048576 /dev/urandom >/tmp/q1
	dd if=/tmp/q1 of="$QC" bs=1M seek=4 oflag=direct conv=notrunc 2>/dev/null
	head -c 12288 /dev/urandom >/tmp/q2
	dd if=/tmp/q2 of="$QC" bs=4096 seek=3000 oflag=direct conv=notrunc 2>/dev/null
	a=$(dd if="$QC" bs=1M skip=4 count=1 iflag=direct 2>/dev/null | sum)
	b=$(dd if="$QC" bs=4096 skip=3000 count=3 iflag=direct 2>/dev/null | sum)
	[ "$a" = "$(sum </tmp/q1)" ] && [ "$b" = "$(sum </tmp/q2)" ] && ok qcow-rw ||
		fail qcow-rw "mismatch"
	echo "G qcow_sums $a $b"
	sync
}

check_rng_console() {
	echo "G rng_current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
	n=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c)
	d=$(dd if=/dev/hwrng bs=64 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
	echo "G hwrng_bytes=$n hwrng_sample=$d"
	[ "$n" -ge 256 ] && ok hwrng || fail hwrng "read $n bytes"
	[ -c /dev/hvc0 ] || { fail hvc "no /dev/hvc0"; return; }
	stty -F /dev/hvc0 raw -echo 2>/dev/null
	echo "hvc-from-guest-$(cat /proc/sys/kernel/random/boot_id)" >/dev/hvc0
	# The host answers on the same port.
	if line=$(timeout 60 head -n 1 /dev/hvc0); then
		echo "G hvc_in=$line"
	else
		fail hvc "nothing came in on /dev/hvc0"
	fi
}

# A clock loop for pause/resume: one tick a second with the guest's time.
check_clock() {
	echo "G clock-loop"
	i=0
	while [ $i -lt 600 ]; do
		echo "G tick $(date +%s) $(cut -d' ' -f1 /proc/uptime)"
		sleep 1
		i=$((i + 1))
	done
}

# The memory balloon (tests/integration/test_balloon.py): say which driver
# has the balloon, then with lane.fill=MiB fill that much of tmpfs
# (G-FILLED), hold it 8 s, free it (G-FREED); then a line a second with
# the guest's view of its memory, for the host to watch setmem and free
# page reporting work: G mem total=KiB free=KiB.
check_balloon() {
	for d in /sys/bus/virtio/devices/*; do
		[ "$(cat "$d/device")" = 0x0005 ] &&
			echo "G balloon_driver=$(basename "$(readlink "$d/driver")")" \
				"features=$(cat "$d/features")"
	done
	mem() { awk -v k="$1" '$1 == k":" { print $2 }' /proc/meminfo; }
	if n=$(larg fill) && [ -n "$n" ]; then
		mount -t tmpfs -o size=90% tmpfs /mnt
		dd if=/dev/zero of=/mnt/fill bs=1M count="$n" 2>/dev/null
		echo "G-FILLED total=$(mem MemTotal) free=$(mem MemFree)"
		sleep 8
		rm /mnt/fill
		echo "G-FREED total=$(mem MemTotal) free=$(mem MemFree)"
	fi
	i=0
	while [ $i -lt 900 ]; do
		echo "G mem total=$(mem MemTotal) free=$(mem MemFree)"
		sleep 1
		i=$((i + 1))
	done
	ok balloon
}

# NUMA placement (tests/integration/test_numastat.py): the guest's own view
# of its NUMA nodes (G numa online=LIST node0=KiB ...), a task run on
# every vCPU, then G-NUMA-READY and it stays up for the host to look.
check_numa() {
	line="G numa online=$(cat /sys/devices/system/node/online 2>/dev/null)"
	for d in /sys/devices/system/node/node[0-9]*; do
		[ -d "$d" ] || continue
		line="$line $(basename "$d")=$(awk '/MemTotal/ {print $4}' "$d/meminfo")"
		line="$line $(basename "$d")_cpus=$(cat "$d/cpulist")"
	done
	echo "$line"
	for c in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$c" true
	done
	echo "G-NUMA-READY"
	sleep 900
	ok numa
}

# Networking between VMs (tests/integration/test_net_vms.py), driven by
# lane.* arguments: dhcp=1 (udhcpc on the NIC), ip=A/N+B/N (static
# addresses), vlans=ID:A/N+ID:A/N (802.1Q sub-interfaces: a trunk port),
# then in this order: ping=IP+IP (G ping_IP=ok|fail each), fetch=IP (the
# peer's blob over TCP port 5000: G fetched_sha=), flip=IP (fetch it
# again while moving the NIC's interrupts between CPUs), serve=1 (serve a random
# 1 MiB blob on port 5000 until the VM is stopped: G blob_sha=, then
# G-SERVING).
larg() { sed -n "s/.*lane\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
check_netvm() {
	nic=""
	for n in /sys/class/net/*; do
		[ "$(cat "$n/type")" = 1 ] && [ -e "$n/device" ] && nic=${n##*/} && break
	done
	[ -n "$nic" ] || { fail netvm "no NIC"; return; }
	echo "G nic=$nic driver=$(basename "$(readlink /sys/class/net/$nic/device/driver)")" \
		"mac=$(cat /sys/class/net/$nic/address)"
	ip link set lo up
	ip link set "$nic" up
	if [ "$(larg dhcp)" = 1 ]; then
		cat >/tmp/udhcpc.sh <<'EOS'
#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/${mask:-24}" dev "$interface"
echo "G lease=$ip/${mask:-24} server=$serverid" >/tmp/lease
EOS
		chmod +x /tmp/udhcpc.sh
		udhcpc -i "$nic" -n -q -t 20 -T 1 -s /tmp/udhcpc.sh >/tmp/udhcpc.log 2>&1 ||
			{ fail netvm "no DHCP lease: $(tail -1 /tmp/udhcpc.log)"; return; }
		cat /tmp/lease
	fi
	for a in $(larg ip | tr '+' ' '); do
		ip addr add "$a" dev "$nic"
	done
	for v in $(larg vlans | tr '+' ' '); do
		id=${v%%:*}
		ip link add link "$nic" name "$nic.$id" type vlan id "$id" &&
			ip addr add "${v#*:}" dev "$nic.$id" && ip link set "$nic.$id" up ||
			fail netvm "vlan $id"
	done
	echo "G addrs=$(ip -o -4 addr show | awk '{print $2 "=" $4}' | grep -v '^lo=' | tr '\n' ',')"
	for peer in $(larg ping | tr '+' ' '); do
		# A few tries: the peer may still be booting, ARP must resolve.
		r=fail
		for i in $(seq 20); do
			ping -c 1 -W 1 "$peer" >/dev/null 2>&1 && { r=ok; break; }
		done
		echo "G ping_$peer=$r"
	done
	if peer=$(larg fetch) && [ -n "$peer" ]; then
		got=""
		for i in $(seq 8); do
			got=$(timeout 20 nc "$peer" 5000 </dev/null | sum) &&
				[ "$got" != "$(sum </dev/null)" ] && break
			got=""
			sleep 1
		done
		echo "G fetched_sha=${got:-none}"
	fi
	# Interrupt affinity flips during fetches (flip=IP): Linux masks each
	# MSI-X vector of the input queues while it rewrites its message for
	# the new CPU, so the VMM rebinds its irqfds each time.  G flips=N
	# (rewrites done) flip_fetches=K (fetches that matched fetched_sha).
	if peer=$(larg flip) && [ -n "$peer" ]; then
		irqs=$(awk '$NF ~ /input\.[0-9]+$/ { sub(":", "", $1); print $1 }' /proc/interrupts)
		(
			k=0
			for i in $(seq 60); do
				for q in $irqs; do
					echo $((i % 2)) >/proc/irq/$q/smp_affinity_list 2>/dev/null &&
						k=$((k + 1))
				done
				sleep 0.05
			done
			echo "$k" >/tmp/flips
		) &
		k=0
		for i in $(seq 6); do
			[ "$(timeout 20 nc "$peer" 5000 </dev/null | sum)" = "$got" ] && k=$((k + 1))
		done
		wait
		echo "G flips=$(cat /tmp/flips)"
		echo "G flip_fetches=$k"
	fi
	# Multiqueue: many connections (each flow hashes to a queue pair on
	# the tap), then the receive interrupts of each input queue.
	if peer=$(larg mq) && [ -n "$peer" ]; then
		echo "G queue_pairs=$(ls -d /sys/class/net/$nic/queues/rx-* | wc -l)"
		for i in $(seq 16); do
			timeout 20 nc "$peer" 5000 </dev/null >/dev/null
		done
		for q in $(ls -d /sys/class/net/$nic/queues/rx-*); do
			q=${q##*rx-}
			echo "G rxirq_$q=$(awk -v q="input.$q" '$NF ~ q"$" { for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) s += $i } END { print s + 0 }' /proc/interrupts)"
		done
	fi
	# The receive filter: frames for another MAC reach the driver only
	# when it asks for promiscuous mode (the host sends them on cue).
	if [ "$(larg filter)" = 1 ]; then
		# No IPv6: its multicast would pass the filter and blur the count.
		echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
		rx() { cat /sys/class/net/$nic/statistics/rx_packets; }
		a=$(rx)
		echo "G-FILTER-SEND off"
		read -r _ </dev/console 2>/dev/null || sleep 4
		b=$(rx)
		ip link set "$nic" promisc on
		sleep 1
		c=$(rx)
		echo "G-FILTER-SEND on"
		read -r _ </dev/console 2>/dev/null || sleep 4
		d=$(rx)
		ip link set "$nic" promisc off
		echo "G filter_rx=$((b - a))"
		echo "G promisc_rx=$((d - c))"
	fi
	# Hold the VM up until the host has looked (a line on the console).
	if [ "$(larg hold)" = 1 ]; then
		echo "G-HOLD"
		read -r _ </dev/console 2>/dev/null || sleep 30
	fi
	if [ "$(larg serve)" = 1 ]; then
		dd if=/dev/urandom of=/tmp/blob bs=64k count=16 2>/dev/null
		echo "G blob_sha=$(sum </tmp/blob)"
		echo "G-SERVING"
		# -ll -e: a persistent server; each connection gets the blob and
		# is closed when cat exits, so the client sees the end.
		nc -ll -p 5000 -e cat /tmp/blob
		fail netvm "the server stopped"
		return
	fi
	ok netvm
}

# werror (lane.sh lane_diskfull): write 32 MiB where the host has room for
# about 24; the VM pauses until the host makes room, and then everything
# written reads back, with no I/O error seen by Linux.
check_diskfull() {
	dev=$(by_serial full)
	[ -n "$dev" ] || { fail diskfull "no disk with serial 'full'"; return; }
	head -c 33554432 /dev/urandom >/tmp/data
	want=$(sum </tmp/data)
	echo "G diskfull writing"
	if ! dd if=/tmp/data of="$dev" bs=1M conv=fsync 2>/tmp/dd.err; then
		fail diskfull "dd: $(tail -1 /tmp/dd.err)"
		return
	fi
	echo 3 >/proc/sys/vm/drop_caches
	got=$(head -c 33554432 "$dev" | sum)
	echo "G io_errors=$(dmesg | grep -c 'I/O error')"
	if [ "$got" != "$want" ]; then
		fail diskfull "read back $got, wrote $want"
	elif dmesg | grep -q 'I/O error'; then
		fail diskfull "Linux saw an I/O error: $(dmesg | grep -m1 'I/O error')"
	else
		ok diskfull
	fi
}

# Save and restore (lane.sh lane_save): write lane.blocks 64 KiB blocks to
# the disk with serial "data", one every 0.1 s, each checksummed into
# /tmp/sums (guest RAM: it travels with the save), with a clock line per
# block ("G tick <epoch> <uptime> <block>"); then read every block back
# from the disk and compare.  A restore that lost a write, a page of RAM
# or a request in flight shows up as a bad block or a missing line.
check_savewriter() {
	d=$(by_serial data)
	[ -n "$d" ] || { fail savewriter "no disk with serial 'data'"; return; }
	n=$(larg blocks)
	: "${n:=300}"
	: >/tmp/sums
	echo "G savewriter start"
	i=0
	while [ $i -lt "$n" ]; do
		yes "block $i of $n" | head -c 65536 >/tmp/b
		dd if=/tmp/b of="$d" bs=65536 seek=$i count=1 oflag=direct conv=notrunc 2>/dev/null ||
			echo "G savewriter write $i failed"
		sum </tmp/b >>/tmp/sums
		echo "G tick $(date +%s) $(cut -d' ' -f1 /proc/uptime) $i"
		i=$((i + 1))
		sleep 0.1
	done
	bad=0
	i=0
	while read -r want; do
		got=$(dd if="$d" bs=65536 skip=$i count=1 iflag=direct 2>/dev/null | sum)
		[ "$got" = "$want" ] || bad=$((bad + 1))
		i=$((i + 1))
	done </tmp/sums
	echo "G savewriter blocks=$i bad=$bad"
	[ "$bad" = 0 ] && [ "$i" = "$n" ] && ok savewriter "$i blocks" ||
		fail savewriter "$bad of $i blocks differ (want $n)"
}

# bench/snapshot: LANE.TOUCH MiB of page cache filled, then waits for the
# host's "go" at the start of the 'data' disk (written after the save),
# and reads it all back: after a restore, every page it touches faults in.
check_snapbench() {
	d=$(by_serial data)
	[ -n "$d" ] || { fail snapbench "no disk with serial 'data'"; return; }
	n=$(larg touch)
	: "${n:=64}"
	yes "vessel snapshot bench" | head -c $((n * 1048576)) >/tmp/touch
	echo "G snapbench ready $n"
	while [ "$(dd if="$d" bs=512 count=1 iflag=direct 2>/dev/null | head -c 2)" != go ]; do
		sleep 0.02
	done
	t0=$(cut -d' ' -f1 /proc/uptime)
	cat /tmp/touch >/dev/null
	echo "G snapbench done $n $t0 $(cut -d' ' -f1 /proc/uptime)"
	ok snapbench
}

# lane.check=a,b runs several checks in one boot.
for c in $(echo "$CHECK" | tr ',' ' '); do
	case "$c" in
	boot) check_boot ;;
	reboot) check_reboot ;;
	blk) check_blk ;;
	rng-console) check_rng_console ;;
	clock) check_clock ;;
	netvm) check_netvm ;;
	balloon) check_balloon ;;
	diskfull) check_diskfull ;;
	numa) check_numa ;;
	savewriter) check_savewriter ;;
	snapbench) check_snapbench ;;
	# bench/boot: the kernel's own timestamp of starting init.
	bench) dmesg | grep -m1 'Run /init' ;;
	# Debugging: the kernel's whole log.
	dmesg) dmesg | sed 's/^/G dmesg: /' ;;
	*) fail "$c" "unknown check" ;;
	esac
done
if [ -z "$CHECK" ]; then
	echo "Type 'poweroff -f' to stop the VM."
	setsid cttyhack sh
fi
[ -z "$FAILED" ] && echo "G-ALL-OK $CHECK"
