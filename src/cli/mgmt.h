/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_CLI_MGMT_H
#define VESSEL_CLI_MGMT_H

#include <stdbool.h>

#include "vm/config.h"
#include "mgmt/state.h"

struct json_object;

/*
 * Helpers shared by the daemonless manager's commands (lifecycle.c,
 * placement.c).  Functions named mgmt_* that print return a CLI exit
 * status (0 or 1); the others return 0 or -errno.
 */
struct mgmt {
	struct state_dirs dirs;
	struct state_vm vm;
	int lock_fd; /* -1 when not held */
};

#define MGMT_LOCK_TIMEOUT_MS 30000
#define MGMT_API_TIMEOUT_MS 5000

/* Resolve the state directory and the VM's paths; prints the error. */
int mgmt_open(const char *name, struct mgmt *m);
/* Take / drop the VM's lock; prints the error. */
int mgmt_lock(struct mgmt *m);
void mgmt_close(struct mgmt *m);

/* Load the definition (or the runtime copy when `running`); prints the error. */
int mgmt_load(const struct mgmt *m, bool running, struct vm_config *c);
/* Store a definition atomically (pretty JSON). */
int mgmt_save(const char *path, const struct vm_config *c);

/*
 * Call the VM's API.  Returns the HTTP status (>= 100) with the parsed JSON
 * body in *out (may be NULL), or -errno when the VMM does not answer.
 * On a 4xx/5xx, errbuf holds the server's message.
 */
int mgmt_api(const struct mgmt *m, const char *method, const char *path, const char *body,
	     struct json_object **out, char *errbuf, size_t errlen);
/* The same within timeout_ms (list and info: an unresponsive VMM is not waited out). */
int mgmt_api_within(const struct mgmt *m, const char *method, const char *path, const char *body,
		    int timeout_ms, struct json_object **out, char *errbuf, size_t errlen);
/* The VM must be running: prints "VM 'x' is not running" otherwise. */
int mgmt_require_running(const struct mgmt *m, pid_t *pid);

/* -h/--help anywhere: print "usage: <usage>" and return true. */
bool mgmt_help(int argc, char **argv, const char *usage);

/* Print o as pretty JSON and a newline on stdout, and put it; 0, or 1 if NULL. */
int mgmt_print_json(struct json_object *o);

struct virtio_net_config;
/* The guest's name of disk i in definition order: vda..vdz, vdaa.. */
void cli_disk_target(unsigned int i, char buf[8]);
/* Is path a block device (else a file, or missing)? */
bool cli_path_is_block(const char *path);
/* A NIC's back-end: type network|ovs|bridge|fd|tap, and its name (NULL: a new tap). */
void cli_nic_source(const struct virtio_net_config *nc, const char **type, const char **src,
		    char fd[16]);

/*
 * identity.c: give c the VM's uuid (the one it has, or a new one) or
 * check the one it brings: not another VM's, and not a change.  Called
 * holding the VM's lock; on success *lock_fd is the uuid lock, to be
 * released (state_unlock) once the definition is saved.  Prints the error.
 */
int cli_uuid_claim(struct mgmt *m, struct vm_config *c, const char *shown, int *lock_fd);
/* Is the VM marked to start at host boot (vessel autostart)? */
bool cli_autostart_marked(const struct state_vm *v);

/* Format a duration in seconds as "3d 2h", "5m 3s" or "42s". */
void mgmt_format_uptime(long secs, char *buf, size_t len);

#endif
