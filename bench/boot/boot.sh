#!/bin/sh
# bench/boot, the VMM side: the Linux lane's kernel and initramfs booted
# to the marker its init prints ("vessel: Linux ... up"), with vessel and
# with QEMU (-M microvm with direct kernel boot, and -M q35), both on the
# same KVM, interleaved: round 1 vessel, microvm, q35; round 2 ...
# Runs inside the L1 host (tests/linux/l1-init, lane.mode=bench) or
# directly on VT-x/AMD-V hosts (bench/boot/boot.py).
#
#   boot.sh [ROUNDS]
#
# Environment: VESSEL, BOOTTIME, QEMU, L2_KERNEL, L2_INITRD, and
# BOOT_CMDLINE (extra kernel parameters, e.g. nokaslr).
# Prints "BOOT vmm round marker_ms exit_ms init_s status" per boot, then
# "BOOT-MEDIAN vmm ..." and "BOOT-RATIO vmm/vessel ..." lines.
: "${VESSEL:?}" "${BOOTTIME:?}" "${L2_KERNEL:?}" "${L2_INITRD:?}" "${QEMU:=qemu-system-x86_64}"
ROUNDS=${1:-5}
MARKER="vessel: Linux"
CMD="console=ttyS0 reboot=k panic=-1 quiet lane.check=bench ${BOOT_CMDLINE}"
mkdir -p "${LANE_WORK:=/tmp}"
OUT=$LANE_WORK/boot.txt
: >"$OUT"

boot() {
	case "$1" in
	vessel)
		"$BOOTTIME" "$MARKER" -- "$VESSEL" run --kernel "$L2_KERNEL" --initrd "$L2_INITRD" \
			--cmdline "$CMD" --cpus 1 --memory 256M --on-reboot destroy
		;;
	vessel-noseccomp)
		# the same without the per-thread filters: their cost (docs/seccomp.md)
		"$BOOTTIME" "$MARKER" -- "$VESSEL" run --kernel "$L2_KERNEL" --initrd "$L2_INITRD" \
			--cmdline "$CMD" --cpus 1 --memory 256M --on-reboot destroy --seccomp off
		;;
	microvm)
		"$BOOTTIME" "$MARKER" -- "$QEMU" -M microvm,rtc=on -accel kvm -cpu host -smp 1 -m 256M \
			-nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$L2_KERNEL" -initrd "$L2_INITRD" -append "$CMD"
		;;
	q35)
		"$BOOTTIME" "$MARKER" -- "$QEMU" -M q35 -accel kvm -cpu host -smp 1 -m 256M \
			-nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$L2_KERNEL" -initrd "$L2_INITRD" -append "$CMD"
		;;
	esac
}

r=1
while [ $r -le "$ROUNDS" ]; do
	for vmm in vessel vessel-noseccomp microvm q35; do
		line=$(boot $vmm </dev/null | tail -1)
		set -- $(echo "$line" | sed 's/[a-z_]*=//g')
		echo "BOOT $vmm $r $1 $2 $3 $4" | tee -a "$OUT"
	done
	r=$((r + 1))
done

median() {
	# median of column $2 for vmm $1
	awk -v v="$1" -v c="$2" '$2 == v && $7 == 0 { print $c }' "$OUT" | sort -n |
		awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2];
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
for vmm in vessel vessel-noseccomp microvm q35; do
	echo "BOOT-MEDIAN $vmm marker_ms=$(median $vmm 4) exit_ms=$(median $vmm 5) init_s=$(median $vmm 6)" \
		"ok_runs=$(awk -v v=$vmm '$2 == v && $7 == 0' "$OUT" | wc -l)/$ROUNDS"
done
v=$(median vessel 4)
for vmm in vessel-noseccomp microvm q35; do
	q=$(median $vmm 4)
	echo "BOOT-RATIO $vmm/vessel exec->marker $(awk -v a="$q" -v b="$v" 'BEGIN { printf "%.2f", a / b }')"
done
