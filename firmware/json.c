#include "firmware/json.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <stdio.h>


static _Thread_local int alloc_failed;

static void *json_malloc(size_t size)
{
	void *p = cnp_malloc(size);
	if (!p)
		alloc_failed = 1;
	return p;
}

void cnp_json_init(void)
{
	cJSON_Hooks hooks = {.malloc_fn = json_malloc, .free_fn = cnp_free};
	cJSON_InitHooks(&hooks);
}

void cnp_json_clear_alloc_failure(void)
{
	alloc_failed = 0;
}

int cnp_json_alloc_failed(void)
{
	return alloc_failed;
}

int cnp_json_uint(const cJSON *item, uint64_t max, uint64_t *out)
{
	if (!cJSON_IsNumber(item))
		return CNP_ERR_INVAL;
	double d = item->valuedouble;
	/* 2^53: beyond it a double no longer holds every whole number. */
	if (!(d >= 0) || d > 9007199254740992.0 || d > (double)max ||
	    (double)(uint64_t)d != d)
		return CNP_ERR_INVAL;
	*out = (uint64_t)d;
	return CNP_OK;
}

int cnp_json_add_uint(cJSON *obj, const char *name, uint64_t v)
{
	/* Written as digits, not through a double: cJSON would print
	 * 1700000000000000 as 1.7e+15, which strict integer readers refuse. */
	char digits[24];
	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
	return cJSON_AddRawToObject(obj, name, digits) ? CNP_OK : CNP_ERR_NOMEM;
}

const char *cnp_json_type_name(const cJSON *j)
{
	if (!j)
		return "nothing";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsArray(j))
		return "an array";
	return "an object";
}
