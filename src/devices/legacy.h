/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_DEVICES_LEGACY_H
#define VESSEL_DEVICES_LEGACY_H

/*
 * The legacy PC devices on a machine's host interface (bus/host.h), each
 * a component for reset, save/restore, stats and teardown, declared with
 * its model (the state sections are described there):
 *
 *   uart8250_create()   devices/uart8250.h   "serial0" (COM1)
 *   i8042_create()      devices/i8042.h      "i8042"
 *   rtc_create()        devices/rtc.h        "rtc"
 *   debug_exit_create() devices/debug_exit.h "debug-exit"
 *
 * The board (vm/board.c) creates them; they never see struct vm.
 */
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/uart8250.h"

#endif
