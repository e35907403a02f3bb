/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_API_MHD_H
#define VESSEL_API_MHD_H

#include <microhttpd.h>

/*
 * libmicrohttpd, loaded with dlopen(3) when a VM actually serves its API.
 * Linking it would map GnuTLS, p11-kit, nettle and their friends into every
 * VMM (about 2.4 MiB of RSS, most of the VMM's own overhead) although only
 * managed VMs listen on an API socket.
 */
struct mhd_api {
	void *handle;
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_create_response_from_callback) *create_response_from_callback;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_lookup_connection_value) *lookup_connection_value;
};

struct error;

/* 0, or -ENOENT with *err saying which library or symbol is missing. */
int mhd_api_load(struct mhd_api *api, struct error *err);
void mhd_api_unload(struct mhd_api *api);

#endif
