/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_CLI_CLI_H
#define VESSEL_CLI_CLI_H

#include <stdarg.h>
#include <stdbool.h>

/*
 * Every command group has an entry point `cmd_<name>(argc, argv)` where
 * argv[0] is the command name.  It returns the process exit status and
 * prints its own one-line error on failure (docs/security.md).
 */
int cmd_run(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_img(int argc, char **argv);
int cmd_define(int argc, char **argv);
int cmd_undefine(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
/*
 * save.c: save the running VM `name` into file and file.mem (vessel
 * save), body the PUT /vm/snapshot/create request's (NULL: none);
 * prints the error; a CLI status.
 */
int cli_save_vm(const char *name, const char *file, const char *body);
int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_destroy(int argc, char **argv);
int cmd_reboot(int argc, char **argv);
int cmd_vcpuinfo(int argc, char **argv);
int cmd_vcpupin(int argc, char **argv);
int cmd_emulatorpin(int argc, char **argv);
int cmd_numatune(int argc, char **argv);
int cmd_setmem(int argc, char **argv);
/* vessel host --capacity (capacity.c): a CLI exit status. */
int host_capacity(bool json);
int cmd_dommemstat(int argc, char **argv);
int cmd_numastat(int argc, char **argv);
int cmd_dumpconfig(int argc, char **argv);
int cmd_domblklist(int argc, char **argv);
int cmd_domiflist(int argc, char **argv);
int cmd_edit(int argc, char **argv);
/* define and edit (lifecycle.c): FILE checked and stored as NAME; 0 or 1. */
int cli_define_from_file(const char *name, const char *file, const char *base, const char *shown);
/* Start the defined VM NAME (lifecycle.c); RESTORE: from that save. */
int cli_start_named(const char *name, const char *restore, bool eager);
int cmd_autostart(int argc, char **argv);
int cmd_vhost_user_blk(int argc, char **argv);
int cmd_net(int argc, char **argv);

/* "<prefix><msg>\n" on stderr (stdout flushed first); returns status. */
int cli_vsay(const char *prefix, int status, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Print "vessel: <msg>" to stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "vessel: usage: <msg>"; returns 2, the exit status of usage errors. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same status for a usage mistake said in other words ("unknown option"). */
int cli_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An informational line on stdout ("VM 'x' started"), which -q silences. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
