// SPDX-License-Identifier: MIT
/*
 * JSON VM definitions (vm_config_from_json_string): any input is refused
 * with a message or parsed; a parsed one serializes and parses back to the
 * same essentials.
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vm/config_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c, d;
	struct error err = ERROR_INIT;
	int r;

	vm_config_init(&c);
	r = vm_config_from_json_string((const char *)data, size, &c, &err);
	if (r) {
		/* Refusals always say what is wrong. */
		if (!err.msg[0])
			abort();
	} else {
		struct json_object *j = vm_config_to_json(&c);
		const char *s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);

		vm_config_init(&d);
		if (vm_config_from_json_string(s, strlen(s), &d, &err))
			abort();
		if (d.nr_cpus != c.nr_cpus || d.mem_size != c.mem_size ||
		    d.nr_numa_nodes != c.nr_numa_nodes || d.nr_devs != c.nr_devs ||
		    d.mem.backing != c.mem.backing || d.dedicated_cpus != c.dedicated_cpus)
			abort();
		vm_config_free(&d);
		json_object_put(j);
	}
	vm_config_free(&c);
	return 0;
}
