/* SPDX-License-Identifier: MIT */
#ifndef VESSEL_UTIL_KEYS_H
#define VESSEL_UTIL_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Key tables: a configuration struct's keys declared once (name, type,
 * limits, default, help), read from a command-line spec
 * ("path=disk.img,queues=4") and from a JSON object ({"path": ...,
 * "queues": 4}) and written back as JSON, all through the same table.  A
 * limit lives in one place, so `vessel run --disk` and a JSON definition
 * refuse the same values with the same words: the CLI says
 * "queues: must be an integer in 1..64", the JSON parser
 * "disks[0].queues: must be an integer in 1..64".
 *
 * Storage per type, at `off` in the struct:
 *   KEY_STRING, KEY_PATH  char * (heap, owned; NULL when not given).
 *                         max: the longest length; words: if non-NULL,
 *                         the value must be one of them.  A path is
 *                         non-empty, at most 4095 bytes.
 *   KEY_BOOL              bool.  CLI: on/off, true/false, yes/no, 1/0;
 *                         JSON: true/false.  KEY_INVERT stores !value
 *                         ("backing": false -> no_backing = true).
 *   KEY_UINT              unsigned int, min..max.
 *   KEY_ENUM              int: the index into words.
 *   KEY_SIZE              uint64_t: "512M" or a number of bytes.
 * KEY_HAS: a bool at has_off is set when the key is given (dumped only
 * then).  Strings are dumped when set, a KEY_UINT without KEY_HAS when
 * non-zero, everything else always.
 */
enum key_type { KEY_STRING, KEY_PATH, KEY_BOOL, KEY_UINT, KEY_ENUM, KEY_SIZE };

#define KEY_REQUIRED 0x1u
#define KEY_INVERT 0x2u
#define KEY_HAS 0x4u

struct key {
	const char *name;
	const char *alias; /* a second command-line spelling, or NULL */
	enum key_type type;
	unsigned int flags;
	size_t off;
	size_t has_off; /* KEY_HAS */
	uint64_t min, max;
	const char *const *words; /* NULL-terminated */
	const char *def;	  /* the default, in words (help, docs) */
	const char *help;
};

struct error;
struct json_object;

/* Set one key from its command-line text; "name: why" on error. */
int keys_set(const struct key *keys, void *obj, const char *name, const char *val,
	     struct error *err);
/*
 * Parse "k=v,k=v" into obj.  A first word without '=' is the value of
 * `bare` (NULL: not allowed).  Each key may be given once; KEY_REQUIRED
 * keys must be given.  On error obj may hold some keys: free it.
 */
int keys_parse(const struct key *keys, void *obj, const char *spec, const char *bare,
	       struct error *err);
/* The same from a JSON object; messages start with `path` ("disks[1]"). */
int keys_from_json(const struct key *keys, void *obj, struct json_object *o, const char *path,
		   struct error *err);
/* The object back as JSON, in the schema keys_from_json reads. */
struct json_object *keys_to_json(const struct key *keys, const void *obj);
/* Release the strings of obj (not obj itself). */
void keys_free(const struct key *keys, void *obj);
/* Find a key by name (or alias). */
const struct key *keys_find(const struct key *keys, const char *name);

/* Shared value parsers, for the keys that are not in a table. */
int keys_parse_bool(const char *s, bool *out);
/* "\"raw\", \"qcow2\"" (JSON) or "raw|qcow2" (sep "|"), into buf. */
const char *keys_words(const char *const *words, const char *sep, bool quote, char *buf,
		       size_t len);

#endif
