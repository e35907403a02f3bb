/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_CLI_CLI_H
#define VESSEL_CLI_CLI_H

/*
 * Every command group has an entry point `cmd_<name>(argc, argv)` where
 * argv[0] is the command name.  It returns the process exit status and
 * prints its own one-line error on failure (DESIGN.md section 5).
 */
int cmd_run(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_img(int argc, char **argv);

/* Print "vessel: <msg>" to stderr; returns 1 for `return cli_error(...)`. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
