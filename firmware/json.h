/*
 * Small helpers around cJSON shared by the configuration, the batch manifest
 * and the tools.
 */
#ifndef CNP_JSON_H
#define CNP_JSON_H

#include <cjson/cJSON.h>
#include <stdint.h>

/* Routes cJSON's allocations through cnp_malloc/cnp_free. Call once at
 * start, before any other thread runs. */
void cnp_json_init(void);

/*
 * cJSON returns NULL both for bad input and for a failed allocation. Clear
 * the calling thread's flag before a cJSON call and test it after a NULL
 * to tell the two apart: nonzero means an allocation failed.
 */
void cnp_json_clear_alloc_failure(void);
int cnp_json_alloc_failed(void);

/*
 * Reads a JSON number that must be a whole number in [0, max].
 * @retval CNP_ERR_INVAL not a number, not whole, negative or above max
 */
int cnp_json_uint(const cJSON *item, uint64_t max, uint64_t *out);

/* Adds a whole number to an object, written as plain digits (exact for
 * any uint64_t; readers of canopy's own JSON accept up to 2^53). */
int cnp_json_add_uint(cJSON *obj, const char *name, uint64_t v);

/* "a string", "a number", "an object", ... for messages; "nothing" for NULL. */
const char *cnp_json_type_name(const cJSON *item);

#endif
