// SPDX-License-Identifier: MIT
/* libmicrohttpd on demand: see mhd.h for why it is not linked. */
#include "api/mhd.h"
#include "util/error.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

/* Debian 12 ships soname 12; the unversioned name needs the -dev package. */
static const char *const mhd_sonames[] = { "libmicrohttpd.so.12", "libmicrohttpd.so" };

#define MHD_SYM(api, field, name)                                                  \
	do {                                                                       \
		*(void **)&(api)->field = dlsym((api)->handle, name);              \
		if (!(api)->field) {                                               \
			error_setf(err, -ENOENT, "libmicrohttpd has no %s", name); \
			goto fail;                                                 \
		}                                                                  \
	} while (0)

int mhd_api_load(struct mhd_api *api, struct error *err)
{
	memset(api, 0, sizeof(*api));
	for (size_t i = 0; i < sizeof(mhd_sonames) / sizeof(mhd_sonames[0]) && !api->handle; i++)
		api->handle = dlopen(mhd_sonames[i], RTLD_NOW | RTLD_LOCAL);
	if (!api->handle)
		return error_setf(err, -ENOENT, "cannot load libmicrohttpd: %s", dlerror());
	MHD_SYM(api, start_daemon, "MHD_start_daemon");
	MHD_SYM(api, stop_daemon, "MHD_stop_daemon");
	MHD_SYM(api, run, "MHD_run");
	MHD_SYM(api, get_timeout, "MHD_get_timeout");
	MHD_SYM(api, get_daemon_info, "MHD_get_daemon_info");
	MHD_SYM(api, create_response_from_buffer, "MHD_create_response_from_buffer");
	MHD_SYM(api, create_response_from_callback, "MHD_create_response_from_callback");
	MHD_SYM(api, add_response_header, "MHD_add_response_header");
	MHD_SYM(api, queue_response, "MHD_queue_response");
	MHD_SYM(api, destroy_response, "MHD_destroy_response");
	MHD_SYM(api, lookup_connection_value, "MHD_lookup_connection_value");
	return 0;
fail:
	mhd_api_unload(api);
	return -ENOENT;
}

void mhd_api_unload(struct mhd_api *api)
{
	if (api->handle)
		dlclose(api->handle);
	memset(api, 0, sizeof(*api));
}
