#include "firmware/iface.h"

#include "firmware/error.h"

#include <string.h>

void cnp_ifaces_init(struct cnp_ifaces *t)
{
	memset(t, 0, sizeof(*t));
}

int cnp_ifaces_intern(struct cnp_ifaces *t, const char *name, unsigned len,
                      uint8_t *index)
{
	if (len == 0 || len >= CNP_IFNAMSIZ)
		return CNP_ERR_INVAL;
	for (unsigned i = 0; i < t->count; i++) {
		if (strncmp(t->names[i], name, len) == 0 && t->names[i][len] == 0) {
			*index = (uint8_t)i;
			return CNP_OK;
		}
	}
	if (t->count >= CNP_IFACE_MAX)
		return CNP_ERR_FULL;
	memcpy(t->names[t->count], name, len);
	t->names[t->count][len] = 0;
	*index = (uint8_t)t->count++;
	return CNP_OK;
}
