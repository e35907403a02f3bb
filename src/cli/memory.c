// SPDX-License-Identifier: MIT
/*
 * `vessel setmem NAME SIZE` and `vessel dommemstat NAME [--period N]`:
 * the balloon of a running VM, as virsh setmem and dommemstat (through
 * the VM's API, /vm/memory; docs/memory.md).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/mgmt.h"
#include "mgmt/admission.h"
#include "util/util.h"

#define SETMEM_USAGE                                                                  \
	"vessel setmem NAME SIZE\n\n"                                                 \
	"Change the memory a running VM's guest may use (its balloon's target): SIZE " \
	"such as 512M,\nbetween the balloon's floor and the VM's memory."
#define DOMMEMSTAT_USAGE                                                                     \
	"vessel dommemstat NAME [--period SECS] [--json]\n\n"                                \
	"The guest's memory statistics, from its balloon, in virsh's names (KiB, counts for " \
	"faults,\nseconds for last_update).  --period sets how often the guest sends them."

static int64_t get_i64(struct json_object *o, const char *k, bool *have)
{
	struct json_object *v;

	*have = json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_int);
	return *have ? json_object_get_int64(v) : 0;
}

int cmd_setmem(int argc, char **argv)
{
	char body[64], err[512], was[32], want[32];
	struct json_object *o = NULL;
	uint64_t size, old;
	struct mgmt m;
	bool have;
	int r;

	if (mgmt_help(argc, argv, SETMEM_USAGE))
		return 0;
	if (argc != 3)
		return cli_usage("vessel setmem NAME SIZE");
	if (parse_size(argv[2], &size) || !size)
		return cli_error("setmem: '%s' is not a size such as 512M", argv[2]);
	if (mgmt_open(argv[1], &m) || mgmt_require_running(&m, NULL))
		return 1;
	if (mgmt_api(&m, "GET", "/vm/memory", NULL, &o, err, sizeof(err)) != 200 || !o) {
		json_object_put(o);
		return cli_error("setmem '%s': %s", argv[1], err);
	}
	old = (uint64_t)get_i64(o, "target", &have);
	format_size(old, was, sizeof(was));
	json_object_put(o);
	/*
	 * The host's memory policy first (mgmt/admission.h): a larger target
	 * must fit beside the other VMs; a smaller one frees room for them.
	 */
	r = have ? admission_set_target(&m.dirs, argv[1], size, err, sizeof(err)) : 0;
	if (r == -ENOSPC || (r < 0 && r != -ENOENT))
		return cli_error("setmem '%s': %s", argv[1], err[0] ? err : strerror(-r));
	snprintf(body, sizeof(body), "{\"size\": %llu}", (unsigned long long)size);
	r = mgmt_api(&m, "PUT", "/vm/memory/target", body, NULL, err, sizeof(err));
	if (r != 204) {
		char ignored[8];

		/* The VM did not take it: its claim goes back to what it was. */
		if (have)
			admission_set_target(&m.dirs, argv[1], old, ignored, sizeof(ignored));
		return cli_error("setmem '%s': %s", argv[1], err);
	}
	format_size(size, want, sizeof(want));
	if (have)
		cli_note("VM '%s': memory target %s (was %s)\n", argv[1], want, was);
	else
		cli_note("VM '%s': memory target %s\n", argv[1], want);
	return 0;
}

/* virsh dommemstat's lines, in its order: name, then KiB (or count, seconds). */
static void print_stats(struct json_object *o)
{
	static const struct {
		const char *name;
		bool kib;
	} stats[] = {
		{ "swap_in", true },	 { "swap_out", true },	{ "major_fault", false },
		{ "minor_fault", false }, { "unused", true },	{ "available", true },
		{ "usable", true },	 { "last_update", false }, { "disk_caches", true },
		{ "hugetlb_pgalloc", false }, { "hugetlb_pgfail", false },
	};
	struct json_object *st = NULL;
	bool have;
	int64_t v;

	v = get_i64(o, "actual", &have);
	if (have)
		printf("actual %lld\n", (long long)(v / 1024));
	json_object_object_get_ex(o, "stats", &st);
	for (size_t i = 0; st && i < ARRAY_SIZE(stats); i++) {
		v = get_i64(st, stats[i].name, &have);
		if (have)
			printf("%s %lld\n", stats[i].name,
			       (long long)(stats[i].kib ? v / 1024 : v));
	}
	v = get_i64(o, "rss", &have);
	if (have)
		printf("rss %lld\n", (long long)(v / 1024));
}

int cmd_dommemstat(int argc, char **argv)
{
	struct json_object *o = NULL;
	const char *name = NULL;
	char err[256], body[48];
	long period = -1;
	bool json = false;
	struct mgmt m;

	if (mgmt_help(argc, argv, DOMMEMSTAT_USAGE))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--period") && i + 1 < argc) {
			uint64_t v;

			if (parse_u64(argv[++i], 86400, &v))
				return cli_error("--period: '%s' is not a number of seconds in "
						 "0..86400",
						 argv[i]);
			period = (long)v;
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			return cli_usage("vessel dommemstat NAME [--period SECS] [--json]");
		}
	}
	if (!name)
		return cli_usage("vessel dommemstat NAME [--period SECS] [--json]");
	if (mgmt_open(name, &m) || mgmt_require_running(&m, NULL))
		return 1;
	if (period >= 0) {
		snprintf(body, sizeof(body), "{\"period\": %ld}", period);
		if (mgmt_api(&m, "PUT", "/vm/memory/stats_period", body, NULL, err, sizeof(err)) !=
		    204)
			return cli_error("dommemstat '%s': %s", name, err);
		/* virsh prints nothing when it only sets the period. */
		return 0;
	}
	if (mgmt_api(&m, "GET", "/vm/memory", NULL, &o, err, sizeof(err)) != 200 || !o) {
		json_object_put(o);
		return cli_error("dommemstat '%s': %s", name, err);
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
	else
		print_stats(o);
	json_object_put(o);
	return 0;
}
