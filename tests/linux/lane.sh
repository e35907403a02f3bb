#!/bin/sh
# The Linux lane's host side: boots the L2 Linux guest with vessel, once
# per check, and judges what Linux's drivers did.  It runs where vessel
# has a /dev/kvm that boots Linux: inside the QEMU TCG L1 host on PVM
# hosts (tests/linux/l1-init runs it, with busybox), or directly on
# VT-x/AMD-V hosts (tests/linux/launch.py runs it).
#
#   lane.sh CHECK...      checks: boot-1 boot-2 boot-4-5g reboot console
#                         devices mgmt diskfull save (or "all"); snapshot: not in
#                         "all" yet (its running revert fails, see lane_snapshot)
#
# Environment: VESSEL, L2_KERNEL, L2_INITRD (the guest), LANE_WORK (a
# scratch directory, on tmpfs in L1), QEMU_IMG, DEBUGFS, E2FSCK, and
# LANE_JAIL: the jail option of every `vessel run` (default --jail: the
# lane runs jailed and with seccomp filters, as `vessel start` does).
# For each check it prints "LANE-BEGIN name", the facts it checked and,
# on a failure, the guest's log, then "LANE-END name ok" or
# "LANE-END name FAIL: why".  tests/integration/test_linux.py turns each
# into one test.
: "${VESSEL:?}" "${L2_KERNEL:?}" "${L2_INITRD:?}" "${LANE_WORK:=/tmp/lane}"
: "${QEMU_IMG:=qemu-img}" "${DEBUGFS:=debugfs}" "${E2FSCK:=e2fsck}" "${LANE_JAIL=--jail}"
CMDLINE_BASE="console=ttyS0 reboot=k panic=-1 quiet"
mkdir -p "$LANE_WORK"

FAILS=""
note() { echo "LANE $CUR: $*"; }
fail() { FAILS="$FAILS${FAILS:+; }$*"; }
# The value of "G key=value" in a guest log.
gval() { sed -n "s/^G $2=//p" "$1" | tr -d '\r' | tail -1; }
gcheck() { grep -q "^G-CHECK $2 ok" "$1" || fail "guest check $2: $(grep "^G-CHECK $2" "$1" | tr -d '\r' | head -1)"; }
# Wait until FILE has a line matching PATTERN, at most SECONDS.
wait_for() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
begin() {
	CUR=$1
	FAILS=""
	D=$LANE_WORK/$1
	rm -rf "$D"
	mkdir -p "$D"
	echo "LANE-BEGIN $1"
	T0=$(date +%s)
}
end() {
	note "took $(($(date +%s) - T0)) s"
	if [ -n "$FAILS" ]; then
		for f in "$@"; do
			[ -f "$f" ] || continue
			echo "LANE $CUR: ---- $f (last 60 lines)"
			tail -60 "$f" | tr -d '\r' | sed "s/^/LANE $CUR: | /"
		done
		echo "LANE-END $CUR FAIL: $FAILS"
	else
		echo "LANE-END $CUR ok"
	fi
}
# vessel run with the L2 guest; LOG gets stdout and stderr.
l2_run() {
	log=$1 check=$2 limit=$3
	shift 3
	timeout -s KILL "$limit" "$VESSEL" run $LANE_JAIL --kernel "$L2_KERNEL" --initrd "$L2_INITRD" \
		--cmdline "$CMDLINE_BASE lane.check=$check" "$@" </dev/null >"$log" 2>&1
}

# ---- boot: vCPUs, topology, memory, ACPI, power off -------------------------
lane_boot() {
	name=$1 cpus=$2 mem_mb=$3
	begin "$name"
	l2_run "$D/log" boot 180 --cpus "$cpus" --memory "${mem_mb}M" --on-reboot destroy
	rc=$?
	L=$D/log
	note "exit $rc; nproc=$(gval "$L" nproc) cores=$(gval "$L" cores) packages=$(gval "$L" packages)" \
		"memtotal_kb=$(gval "$L" memtotal_kb) ram_top_mb=$(gval "$L" ram_top_mb)" \
		"acpi_errors=$(gval "$L" acpi_errors)"
	[ $rc -eq 0 ] || fail "vessel exit status $rc after the guest's poweroff (want 0)"
	grep -q "^G-ALL-OK boot" "$L" || fail "the guest did not finish its checks"
	for k in nproc cpuinfo cores siblings cpu_cores cpus_ran; do
		[ "$(gval "$L" $k)" = "$cpus" ] || fail "$k is '$(gval "$L" $k)', want $cpus"
	done
	want_online=0
	[ "$cpus" -gt 1 ] && want_online="0-$((cpus - 1))"
	[ "$(gval "$L" online)" = "$want_online" ] || fail "online CPUs '$(gval "$L" online)', want $want_online"
	[ "$(gval "$L" packages)" = 1 ] || fail "$(gval "$L" packages) packages, want 1"
	[ "$(gval "$L" threads)" = 0 ] || fail "cpu0 thread siblings '$(gval "$L" threads)', want 0"
	mt=$(gval "$L" memtotal_kb)
	mt=${mt:-0}
	# The kernel keeps its own image and reserved ranges out of MemTotal.
	[ "$mt" -gt $((mem_mb * 1024 * 90 / 100)) ] && [ "$mt" -le $((mem_mb * 1024)) ] ||
		fail "MemTotal ${mt} kB for ${mem_mb} MiB of RAM"
	if [ "$mem_mb" -gt 3072 ]; then
		top=$(gval "$L" ram_top_mb)
		[ "${top:-0}" -gt 4096 ] || fail "no System RAM above 4 GiB (top ${top} MiB)"
	fi
	[ "$(gval "$L" acpi_errors)" = 0 ] || fail "ACPI errors in dmesg: $(sed -n 's/^G acpi: //p' "$L" | head -3)"
	gval "$L" inputs | grep -q Power_Button || fail "no ACPI power button input device: $(gval "$L" inputs)"
	for t in APIC DSDT FACP; do
		gval "$L" acpi_tables | grep -q "$t" || fail "ACPI table $t missing"
	done
	end "$L"
}

# ---- reboot: the guest's reboot resets the machine and boots again ----------
lane_reboot() {
	begin reboot
	truncate -s 1M "$D/state.img"
	l2_run "$D/log" reboot 240 --cpus 2 --memory 256M \
		--disk "path=$D/state.img,format=raw,serial=state"
	rc=$?
	boots=$(grep -c '^vessel: Linux .* up' "$D/log")
	note "exit $rc, $boots boots"
	[ $rc -eq 0 ] || fail "vessel exit status $rc (want 0)"
	[ "$boots" = 2 ] || fail "$boots boots, want 2 (boot, reboot, boot)"
	grep -q '^G first-boot' "$D/log" || fail "the first boot did not reboot"
	grep -q '^G second-boot' "$D/log" || fail "the second boot did not see the first one's marker"
	end "$D/log"
}

# ---- serial console: type into vessel's stdio, read the answer -------------
lane_console() {
	begin console
	mkfifo "$D/in"
	"$VESSEL" run $LANE_JAIL --kernel "$L2_KERNEL" --initrd "$L2_INITRD" --cmdline "$CMDLINE_BASE" \
		--cpus 1 --memory 256M <"$D/in" >"$D/log" 2>&1 &
	pid=$!
	exec 3>"$D/in"
	if ! wait_for "$D/log" "Type 'poweroff -f'" 120; then
		fail "the guest's shell did not come up"
	else
		sleep 1
		printf 'echo CONSOLE-$((6 * 7))-ANSWER\n' >&3
		printf 'grep ttyS0 /proc/interrupts | sed "s/^/IRQ-LINE /"\n' >&3
		printf 'cat /proc/tty/driver/serial | grep "^0:" | sed "s/^/UART-LINE /"\n' >&3
		wait_for "$D/log" '^UART-LINE' 60 || fail "no answer to the typed commands"
		grep -q '^CONSOLE-42-ANSWER' "$D/log" || fail "the typed command's answer is missing"
		irq=$(grep '^IRQ-LINE' "$D/log" | tr -d '\r' | head -1)
		note "ttyS0 interrupts: ${irq#IRQ-LINE }"
		n=$(echo "$irq" | awk '{ print $3 }')
		[ "${n:-0}" -gt 0 ] 2>/dev/null || fail "ttyS0 is not interrupt driven: '$irq'"
		note "$(grep '^UART-LINE' "$D/log" | tr -d '\r' | head -1)"
		grep '^UART-LINE' "$D/log" | grep -q 'irq:4' || fail "ttyS0 has no IRQ 4"
	fi
	# SIGTERM stops the VM cleanly: exit 0, promptly.
	kill -TERM $pid
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 $pid 2>/dev/null; then
		fail "vessel still running 10 s after SIGTERM"
		kill -KILL $pid
	fi
	wait $pid
	rc=$?
	exec 3>&-
	note "SIGTERM: exit $rc after $((i / 10)).$((i % 10)) s"
	[ $rc -eq 0 ] || fail "exit status $rc after SIGTERM (want 0)"
	end "$D/log"
}

# ---- virtio-blk (raw, qcow2 + backing, read-only, multi-queue), rng, hvc ----
lane_devices() {
	begin devices
	truncate -s 256M "$D/rw.img"
	# (busybox head takes no size suffixes)
	dd if=/dev/urandom of="$D/ro.img" bs=1M count=8 2>/dev/null
	dd if=/dev/urandom of="$D/base.raw" bs=1M count=16 2>/dev/null
	"$VESSEL" img create -q -f qcow2 -b "$D/base.raw" -F raw "$D/qcow.qcow2" 64M >"$D/img.log" 2>&1 ||
		fail "vessel img create: $(cat "$D/img.log")"
	"$VESSEL" run $LANE_JAIL --kernel "$L2_KERNEL" --initrd "$L2_INITRD" \
		--cmdline "$CMDLINE_BASE lane.check=blk,rng-console" --cpus 2 --memory 512M \
		--disk "path=$D/rw.img,format=raw,serial=rw,queues=2" \
		--disk "path=$D/ro.img,format=raw,serial=ro,readonly=on" \
		--disk "path=$D/qcow.qcow2,format=qcow2,serial=qcow" \
		--rng --console pty --on-reboot destroy </dev/null >"$D/log" 2>&1 &
	pid=$!
	# virtio-console on a pty: read what the guest sends, answer it.
	if wait_for "$D/log" 'virtio-console on /dev/pts/' 30; then
		pty=$(sed -n 's/.*virtio-console on \(\/dev\/pts\/[0-9]*\).*/\1/p' "$D/log" | head -1)
		stty -F "$pty" raw -echo 2>/dev/null
		cat "$pty" >"$D/hvc.out" 2>/dev/null &
		cat_pid=$!
		if wait_for "$D/hvc.out" 'hvc-from-guest-' 240; then
			echo "hvc-from-host-$$" >"$pty"
		else
			fail "nothing came out of /dev/hvc0"
		fi
	else
		fail "no virtio-console pty"
	fi
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 2400 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -KILL $pid 2>/dev/null && fail "the guest did not power off"
	wait $pid
	rc=$?
	[ -n "$cat_pid" ] && kill $cat_pid 2>/dev/null
	L=$D/log
	note "exit $rc; rw queues $(gval "$L" rw_queues), MSI-X interrupts $(gval "$L" msix_irqs)," \
		"rng '$(gval "$L" rng_current)'"
	[ $rc -eq 0 ] || fail "vessel exit status $rc (want 0)"
	for c in disks mkfs fsck readback fstrim ro-flag ro-write qcow-rw hwrng; do
		gcheck "$L" $c
	done
	[ "$(gval "$L" rw_queues)" = 2 ] || fail "rw disk has $(gval "$L" rw_queues) queues, want 2"
	[ "$(gval "$L" msix_irqs)" -gt 0 ] 2>/dev/null || fail "no MSI-X interrupts for virtio"
	gval "$L" rng_current | grep -q virtio_rng || fail "hw_random is not virtio_rng"
	# hvc0 both ways.
	grep -q 'hvc-from-guest-' "$D/hvc.out" 2>/dev/null || fail "guest -> host on hvc0 lost"
	[ "$(gval "$L" hvc_in)" = "hvc-from-host-$$" ] ||
		fail "host -> guest on hvc0: guest read '$(gval "$L" hvc_in)'"
	# The host's view of the images, byte for byte.
	[ "$(sed -n 's/^G ro_sum //p' "$L" | tr -d '\r')" = "$(sha256sum <"$D/ro.img" | cut -d' ' -f1)" ] ||
		fail "read-only disk: guest and host disagree"
	[ "$(sed -n 's/^G qcow_base_sum //p' "$L" | tr -d '\r')" = \
		"$(dd if="$D/base.raw" bs=1M count=1 2>/dev/null | sha256sum | cut -d' ' -f1)" ] ||
		fail "qcow2: backing data read by the guest differs from the backing file"
	"$QEMU_IMG" check -q "$D/qcow.qcow2" >"$D/check.log" 2>&1 || fail "qemu-img check: $(cat "$D/check.log")"
	"$VESSEL" img check "$D/qcow.qcow2" >>"$D/check.log" 2>&1 || fail "vessel img check failed"
	"$QEMU_IMG" convert -O raw "$D/qcow.qcow2" "$D/qcow.raw" &&
		a=$(dd if="$D/qcow.raw" bs=1M skip=4 count=1 2>/dev/null | sha256sum | cut -d' ' -f1) &&
		b=$(dd if="$D/qcow.raw" bs=4096 skip=3000 count=3 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$(sed -n 's/^G qcow_sums //p' "$L" | tr -d '\r')" = "$a $b" ] ||
		fail "qcow2: the guest's writes differ on the host"
	# 5-8 MiB: between the guest's two writes (at 4 MiB and 11.7 MiB).
	[ "$(dd if="$D/qcow.raw" bs=1M skip=5 count=3 2>/dev/null | sha256sum)" = \
		"$(dd if="$D/base.raw" bs=1M skip=5 count=3 2>/dev/null | sha256sum)" ] ||
		fail "qcow2: untouched clusters do not read through to the backing file"
	"$E2FSCK" -f -n "$D/rw.img" >"$D/fsck.log" 2>&1 || fail "host e2fsck: $(tail -2 "$D/fsck.log")"
	for n in 1 4096 65537 1048576 8388608; do
		want=$(sed -n "s/^G file f$n //p" "$L" | tr -d '\r')
		got=$("$DEBUGFS" -R "cat /f$n" "$D/rw.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
		[ -n "$want" ] && [ "$want" = "$got" ] || fail "file f$n: guest $want, host $got"
	done
	# fstrim: the deleted 32 MiB file's blocks are holes in the image again.
	kb=$(du -k "$D/rw.img" | cut -f1)
	note "rw.img holds $kb KiB after fstrim (files 9 MiB + ext4 metadata)"
	[ "$kb" -lt 30720 ] || fail "fstrim punched no holes: rw.img holds $kb KiB"
	end "$L" "$D/hvc.out"
}

# ---- a managed VM: pause/resume keeps time, vcpupin, ACPI shutdown -----------
lane_mgmt() {
	begin mgmt
	export XDG_RUNTIME_DIR="$D/run" XDG_DATA_HOME="$D/data"
	mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	chmod 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	cat >"$D/lanevm.json" <<EOF
{
  "name": "lanevm",
  "cpus": 2,
  "memory": "256M",
  "kernel": "$L2_KERNEL",
  "initrd": "$L2_INITRD",
  "cmdline": "$CMDLINE_BASE lane.check=clock",
  "console": {"mode": "file", "path": "$D/console.log"}
}
EOF
	V="$VESSEL"
	if ! "$V" define lanevm --config "$D/lanevm.json" >"$D/cli.log" 2>&1 ||
		! "$V" start lanevm >>"$D/cli.log" 2>&1; then
		fail "define/start: $(tail -2 "$D/cli.log")"
		end "$D/cli.log"
		return
	fi
	C=$D/console.log
	wait_for "$C" '^G tick' 120 || fail "no clock ticks from the guest"
	sleep 2
	before=$(grep '^G tick' "$C" | tail -1 | awk '{ print $3 }')
	off1=$((before - $(date +%s)))
	"$V" pause lanevm >>"$D/cli.log" 2>&1 || fail "pause failed"
	sleep 1
	n1=$(grep -c '^G tick' "$C")
	sleep 4
	n2=$(grep -c '^G tick' "$C")
	state=$("$V" info lanevm 2>&1 | awk '/^State:/ { print $2 }')
	note "paused: $((n2 - n1)) ticks in 4 s, state '$state'"
	[ "$n1" = "$n2" ] || fail "the guest ticked $((n2 - n1)) times while paused"
	[ "$state" = paused ] || fail "info says '$state' while paused"
	"$V" resume lanevm >>"$D/cli.log" 2>&1 || fail "resume failed"
	n3=$n2
	wait_for_more() {
		i=0
		while [ $i -lt 300 ]; do
			[ "$(grep -c '^G tick' "$C")" -gt $((n3 + 2)) ] && return 0
			sleep 0.1
			i=$((i + 1))
		done
		return 1
	}
	wait_for_more || fail "no ticks after resume"
	after=$(grep '^G tick' "$C" | tail -1 | awk '{ print $3 }')
	off2=$((after - $(date +%s)))
	note "guest clock - host clock: $off1 s before the pause, $off2 s after"
	d=$((off2 - off1))
	[ $d -ge -2 ] && [ $d -le 2 ] || fail "the guest's clock is off by $d s after the pause"

	# vcpupin: pin each vCPU to one host CPU and read the threads' affinity.
	ncpu=$(nproc)
	if [ "$ncpu" -lt 2 ]; then
		fail "vcpupin needs at least 2 host CPUs, this host has $ncpu"
	else
		"$V" vcpupin lanevm 0 1 >>"$D/cli.log" 2>&1 || fail "vcpupin 0 1 failed"
		"$V" vcpupin lanevm 1 0 >>"$D/cli.log" 2>&1 || fail "vcpupin 1 0 failed"
		"$V" vcpuinfo lanevm >"$D/vcpuinfo" 2>&1
		for v in 0 1; do
			tid=$(awk -v v=$v '/^VCPU:/ { cur = $2 } /^Thread:/ && cur == v { print $2 }' "$D/vcpuinfo")
			want=$((1 - v))
			got=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/"$tid"/status 2>/dev/null)
			note "vCPU $v: thread $tid, Cpus_allowed_list '$got'"
			[ "$got" = "$want" ] || fail "vCPU $v thread $tid runs on '$got', want $want"
		done
	fi

	# ACPI power button: the guest's acpid powers it off.
	"$V" shutdown lanevm --timeout 60 >>"$D/cli.log" 2>&1 || fail "shutdown: $(tail -1 "$D/cli.log")"
	grep -q 'power button pressed' "$C" || fail "the guest did not see the power button"
	state=$("$V" info lanevm 2>&1 | awk '/^State:/ { print $2, $3 }')
	note "after shutdown: state '$state'"
	case "$state" in "shut off"*) ;; *) fail "state '$state' after shutdown" ;; esac
	"$V" undefine lanevm >>"$D/cli.log" 2>&1
	end "$C" "$D/cli.log"
}

# ---- werror: a full host file system pauses the VM, resume finishes --------
# The disk's image is on a tmpfs a filler file already half fills; Linux
# writes more than is left.  With the default werror=enospc the VM pauses
# (info: "paused (I/O error)"), the filler goes, resume submits the held
# writes again, and Linux reads back what it wrote, with no I/O error.
lane_diskfull() {
	begin diskfull
	export XDG_RUNTIME_DIR="$D/run" XDG_DATA_HOME="$D/data"
	mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME" "$D/fs"
	chmod 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	V="$VESSEL"
	if ! mount -t tmpfs -o size=48M tmpfs "$D/fs"; then
		fail "cannot mount a tmpfs"
		end
		return
	fi
	dd if=/dev/zero of="$D/fs/filler" bs=1M count=24 2>/dev/null
	truncate -s 40M "$D/fs/disk.raw"
	cat >"$D/fullvm.json" <<EOF
{
  "name": "fullvm",
  "cpus": 1,
  "memory": "256M",
  "kernel": "$L2_KERNEL",
  "initrd": "$L2_INITRD",
  "cmdline": "$CMDLINE_BASE lane.check=diskfull",
  "console": {"mode": "file", "path": "$D/console.log"},
  "disks": [{"path": "$D/fs/disk.raw", "format": "raw", "serial": "full"}]
}
EOF
	C=$D/console.log
	if ! "$V" define fullvm --config "$D/fullvm.json" >"$D/cli.log" 2>&1 ||
		! "$V" start fullvm >>"$D/cli.log" 2>&1; then
		fail "define/start: $(tail -2 "$D/cli.log")"
	else
		wait_for "$C" '^G diskfull writing' 180 || fail "the guest did not start writing"
		i=0
		while [ $i -lt 1200 ]; do
			"$V" info fullvm 2>/dev/null | grep -q '^State: *paused (I/O error)' && break
			sleep 0.1
			i=$((i + 1))
		done
		state=$("$V" info fullvm 2>&1 | sed -n 's/^State: *//p')
		note "when the host file system filled: state '$state'"
		[ "$state" = "paused (I/O error)" ] || fail "state '$state', want 'paused (I/O error)'"
		sleep 2
		state=$("$V" info fullvm 2>&1 | sed -n 's/^State: *//p')
		[ "$state" = "paused (I/O error)" ] || fail "2 s later the state is '$state'"
		rm -f "$D/fs/filler"
		"$V" resume fullvm >>"$D/cli.log" 2>&1 || fail "resume: $(tail -1 "$D/cli.log")"
		wait_for "$C" '^G-CHECK diskfull' 300 || fail "the guest did not finish after resume"
		gcheck "$C" diskfull
		note "guest: io_errors=$(gval "$C" io_errors)"
		events=$("$V" info fullvm 2>&1 | sed -n 's/^Log: *//p')
		grep -q 'paused: a disk stopped on an I/O error' "$events" ||
			fail "the lifecycle log ($events) has no io-error pause"
		"$V" destroy fullvm >>"$D/cli.log" 2>&1
		"$V" undefine fullvm >>"$D/cli.log" 2>&1
	fi
	umount -l "$D/fs"
	end "$C" "$D/cli.log"
}

# ---- save and restore: a writer on virtio-blk and a clock, saved running ---
# and paused, restored in new processes, twice from one file.  The guest
# (guest.sh check_savewriter) checksums every block it writes into its
# RAM and reads them all back at the end: a lost write, request or page
# fails it.  Its uptime must not jump over the restore.
# The last "G tick" of a console log: "<epoch> <uptime> <block>".
last_tick() { grep '^G tick' "$1" | tr -d '\r' | tail -1 | cut -d' ' -f3-; }
# FILE TAG: restore, wait for the writer's verdict, destroy.
save_restore_run() {
	"$V" restore "$1" >>"$D/cli.log" 2>&1 || { fail "restore $2: $(tail -1 "$D/cli.log")"; return 1; }
	# The rest of the writer's 250 blocks: about a minute under TCG.
	wait_for "$C" '^G-CHECK savewriter' 200 || fail "$2: the restored guest did not finish"
	gcheck "$C" savewriter
	first=$(grep '^G tick' "$C" | tr -d '\r' | head -1 | cut -d' ' -f3-)
	log=$("$V" info savevm 2>/dev/null | sed -n 's/^Log: *//p')
	note "$2: first tick after the restore: $first; $(grep '^G savewriter blocks' "$C" | tr -d '\r')"
	"$V" destroy savevm >>"$D/cli.log" 2>&1
	mv "$C" "$D/console-$2.log"
	grep -q "^G-CHECK savewriter ok" "$D/console-$2.log"
}
lane_save() {
	begin save
	export XDG_RUNTIME_DIR="$D/run" XDG_DATA_HOME="$D/data"
	mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	chmod 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	truncate -s 64M "$D/data.raw"
	cat >"$D/savevm.json" <<EOF
{
  "name": "savevm",
  "cpus": 2,
  "memory": "256M",
  "kernel": "$L2_KERNEL",
  "initrd": "$L2_INITRD",
  "cmdline": "$CMDLINE_BASE lane.check=savewriter lane.blocks=250",
  "console": {"mode": "file", "path": "$D/console.log"},
  "disks": [{"path": "$D/data.raw", "format": "raw", "serial": "data"}]
}
EOF
	V="$VESSEL"
	C=$D/console.log
	if ! "$V" define savevm --config "$D/savevm.json" >"$D/cli.log" 2>&1 ||
		! "$V" start savevm >>"$D/cli.log" 2>&1; then
		fail "define/start: $(tail -2 "$D/cli.log")"
		end "$D/cli.log"
		return
	fi
	wait_for "$C" '^G tick .* 30.$' 180 || wait_for "$C" '^G tick .* 30$' 1 ||
		fail "the writer did not get to block 30"
	# while running: the VM pauses for the save and runs on
	t0=$(date +%s.%N)
	"$V" save savevm "$D/run1" >>"$D/cli.log" 2>&1 || fail "save (running): $(tail -1 "$D/cli.log")"
	t1=$(date +%s.%N)
	at1=$(last_tick "$C")
	mem_kb=$(du -k "$D/run1.mem" | cut -f1)
	note "saved running at tick '$at1' in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s: state $(stat -c %s "$D/run1") bytes, memory file $(stat -c %s "$D/run1.mem") bytes apparent, $mem_kb KiB on disk"
	[ "$mem_kb" -lt 262144 ] || fail "the memory file takes $mem_kb KiB: not sparse"
	state=$("$V" info savevm 2>&1 | awk '/^State:/ { print $2 }')
	[ "$state" = running ] || fail "after the save the VM is '$state', not running"
	n1=$(grep -c '^G tick' "$C")
	sleep 3
	[ "$(grep -c '^G tick' "$C")" -gt "$n1" ] || fail "no ticks after the save: the VM did not resume"
	# while paused: it stays paused
	"$V" pause savevm >>"$D/cli.log" 2>&1 || fail "pause failed"
	"$V" save savevm "$D/paused1" >>"$D/cli.log" 2>&1 || fail "save (paused): $(tail -1 "$D/cli.log")"
	state=$("$V" info savevm 2>&1 | awk '/^State:/ { print $2 }')
	[ "$state" = paused ] || fail "after a save while paused the VM is '$state'"
	"$V" resume savevm >>"$D/cli.log" 2>&1 || fail "resume failed"
	# a save killed half-way: no file that looks whole, and the VM runs on
	"$V" save savevm "$D/killed" >>"$D/cli.log" 2>&1 &
	sleep 0.3
	kill -9 $! 2>/dev/null
	wait $! 2>/dev/null
	[ -e "$D/killed" ] && [ ! -e "$D/killed.mem.part" ] && note "the killed save had finished already"
	[ -e "$D/killed" ] && [ -e "$D/killed.part" ] && fail "a killed save left both FILE and FILE.part"
	if [ ! -e "$D/killed" ]; then
		"$V" restore "$D/killed" --name killedvm >"$D/killed.log" 2>&1 &&
			fail "a killed save's file was restored"
		note "killed save: $(ls "$D" | grep -c '^killed') files named killed*; restore says: $(head -1 "$D/killed.log")"
	fi
	sleep 1
	n1=$(grep -c '^G tick' "$C")
	sleep 3
	state=$("$V" info savevm 2>&1 | awk '/^State:/ { print $2 }')
	[ "$(grep -c '^G tick' "$C")" -gt "$n1" ] && [ "$state" = running ] ||
		fail "after a killed save the VM is '$state' and ticks $(($(grep -c '^G tick' "$C") - n1)) times in 3 s"
	wait_for "$C" '^G-CHECK savewriter' 300 || fail "the original guest did not finish"
	gcheck "$C" savewriter
	log=$("$V" info savevm 2>/dev/null | sed -n 's/^Log: *//p')
	"$V" destroy savevm >>"$D/cli.log" 2>&1
	mv "$C" "$D/console-orig.log"
	# a corrupt state file is refused, in one line, and nothing starts
	cp "$D/run1" "$D/bad"
	ln -s "$D/run1.mem" "$D/bad.mem"
	printf 'X' | dd of="$D/bad" bs=1 seek=200 conv=notrunc 2>/dev/null
	if "$V" restore "$D/bad" --name badvm >"$D/bad.log" 2>&1; then
		fail "a corrupt state file was restored"
		"$V" destroy badvm >/dev/null 2>&1
	fi
	note "corrupt file: $(head -1 "$D/bad.log")"
	# twice from one file (clones, one after the other: they share the disk), then the paused save
	for r in run1:a run1:b paused1:c; do
		# one that fails shows why (below); the next would fail the same way
		save_restore_run "$D/${r%%:*}" "${r%%:*}-${r##*:}" || break
	done
	for l in "$D/console-run1-a.log" "$D/console-paused1-c.log"; do
		[ -f "$l" ] || continue
		first=$(grep '^G tick' "$l" | tr -d '\r' | head -1)
		up=$(echo "$first" | cut -d' ' -f4)
		blk=$(echo "$first" | cut -d' ' -f5)
		prev=$(grep '^G tick' "$D/console-orig.log" | tr -d '\r' | awk -v b=$((blk - 1)) '$5 == b { print $4; exit }')
		note "$(basename "$l"): block $blk at uptime $up; block $((blk - 1)) at $prev before the save"
		[ -n "$prev" ] && awk -v a="$prev" -v b="$up" 'BEGIN { exit !(b - a >= 0 && b - a < 3) }' ||
			fail "$(basename "$l"): the guest's uptime went from '$prev' to '$up' over the restore"
	done
	[ -n "$log" ] && grep -a 'restored\|saved' "$log" | tail -4 | sed "s/^/LANE save: log: /"
	"$V" undefine savevm >>"$D/cli.log" 2>&1
	end "$D/console-orig.log" "$D/console-run1-a.log" "$D/cli.log" "$D/bad.log"
}

# ---- snapshots with disks: the same writer on a qcow2 disk, an internal ---
# snapshot taken running (the disk's and the VM's state at one instant),
# reverted while the guest runs on past it, then an external one (the VM
# saved, stopped and restored onto an overlay).  The writer's checksums
# hold only if disk and memory went back together.
# Not in the lane's "all" yet: the create passes, but the VMM restored by
# the revert of the running VM exits at start with an empty log (seen
# twice in checks-mode L1, 2026-12-05); run it alone with
# `lane.sh snapshot` while that is found.
lane_snapshot() {
	begin snapshot
	export XDG_RUNTIME_DIR="$D/run" XDG_DATA_HOME="$D/data"
	mkdir -p "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	chmod 700 "$XDG_RUNTIME_DIR" "$XDG_DATA_HOME"
	V="$VESSEL"
	C=$D/console.log
	"$V" img create -f qcow2 "$D/data.qcow2" 64M >"$D/cli.log" 2>&1
	cat >"$D/snapvm.json" <<EOF
{
  "name": "snapvm",
  "cpus": 2,
  "memory": "256M",
  "kernel": "$L2_KERNEL",
  "initrd": "$L2_INITRD",
  "cmdline": "$CMDLINE_BASE lane.check=savewriter lane.blocks=200",
  "console": {"mode": "file", "path": "$D/console.log"},
  "disks": [{"path": "$D/data.qcow2", "format": "qcow2", "serial": "data"}]
}
EOF
	if ! "$V" define snapvm --config "$D/snapvm.json" >>"$D/cli.log" 2>&1 ||
		! "$V" start snapvm >>"$D/cli.log" 2>&1; then
		fail "define/start: $(tail -2 "$D/cli.log")"
		end "$D/cli.log"
		return
	fi
	wait_for "$C" '^G tick .* 30.$' 180 || wait_for "$C" '^G tick .* 30$' 1 ||
		fail "the writer did not get to block 30"
	"$V" snapshot create snapvm s1 >>"$D/cli.log" 2>&1 || fail "snapshot create (running): $(tail -1 "$D/cli.log")"
	at=$(last_tick "$C")
	state=$("$V" info snapvm 2>&1 | awk '/^State:/ { print $2 }')
	[ "$state" = running ] || fail "after snapshot create the VM is '$state', not running"
	wait_for "$C" '^G tick .* 60.$' 120 || wait_for "$C" '^G tick .* 60$' 1 ||
		fail "the writer did not get to block 60 after the snapshot"
	# revert while it runs: back to block ~30, disk and memory together
	mv "$C" "$D/console-s1.log"
	if ! "$V" snapshot revert snapvm s1 >>"$D/cli.log" 2>&1; then
		fail "snapshot revert (running): $(tail -1 "$D/cli.log")"
		cat /run/vessel/snapvm/vmm.log "$XDG_RUNTIME_DIR/vessel/snapvm/vmm.log" >"$D/vmm.log" 2>/dev/null
	fi
	wait_for "$C" '^G tick' 60 || fail "no tick after the revert"
	note "snapshot at '$at'; first tick after the revert: $(grep '^G tick' "$C" | tr -d '\r' | head -1 | cut -d' ' -f3-)"
	wait_for "$C" '^G tick .* 45.$' 120 || wait_for "$C" '^G tick .* 45$' 1 ||
		fail "the reverted writer did not get to block 45"
	# external, running: saved, stopped, restored onto an overlay
	mv "$C" "$D/console-r1.log"
	"$V" snapshot create snapvm e1 --external >>"$D/cli.log" 2>&1 ||
		fail "external snapshot (running): $(tail -1 "$D/cli.log")"
	[ -f "$D/data.e1.qcow2" ] || fail "no overlay data.e1.qcow2"
	wait_for "$C" '^G-CHECK savewriter' 200 || fail "the guest did not finish after the external snapshot"
	gcheck "$C" savewriter
	note "$(grep '^G savewriter blocks' "$C" | tr -d '\r')"
	"$V" snapshot list snapvm --tree >"$D/tree" 2>&1
	[ "$(tr '\n' ' ' <"$D/tree")" = "s1   e1 * " ] || fail "snapshot tree: $(tr '\n' '|' <"$D/tree")"
	"$V" destroy snapvm >>"$D/cli.log" 2>&1
	# qemu's table: the running VMM took it (the image was locked until now)
	"$V" img snapshot -l "$D/data.qcow2" >>"$D/cli.log" 2>&1
	grep -q ' s1 ' "$D/cli.log" || fail "the qcow2 disk has no internal snapshot s1"
	"$V" snapshot delete snapvm s1 >>"$D/cli.log" 2>&1 || fail "snapshot delete: $(tail -1 "$D/cli.log")"
	"$V" img snapshot -l "$D/data.qcow2" 2>&1 | grep -q ' s1 ' && fail "s1 is still in the disk after delete"
	"$V" img check "$D/data.qcow2" >>"$D/cli.log" 2>&1 || fail "img check after the snapshots: $(tail -1 "$D/cli.log")"
	"$V" undefine snapvm >>"$D/cli.log" 2>&1
	end "$D/console-s1.log" "$C" "$D/vmm.log" "$D/cli.log"
}

run_check() {
	case "$1" in
	boot-1) lane_boot boot-1 1 512 ;;
	boot-2) lane_boot boot-2 2 512 ;;
	boot-4-5g) lane_boot boot-4-5g 4 5120 ;;
	reboot) lane_reboot ;;
	console) lane_console ;;
	devices) lane_devices ;;
	mgmt) lane_mgmt ;;
	diskfull) lane_diskfull ;;
	save) lane_save ;;
	snapshot) lane_snapshot ;;
	*) echo "LANE-END $1 FAIL: unknown check" ;;
	esac
}

[ "$*" = all ] && set -- boot-1 boot-2 boot-4-5g reboot console devices mgmt diskfull save
for c in "$@"; do
	run_check "$c"
done
echo "LANE-DONE"
