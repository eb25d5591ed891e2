/*
 * The table of interface names ("can0", "vcan1") that frames refer to by
 * index. Bounded: at most CNP_IFACE_MAX names. Not thread-safe.
 */
#ifndef CNP_IFACE_H
#define CNP_IFACE_H

#include <stdint.h>

#define CNP_IFACE_MAX 64
#define CNP_IFNAMSIZ 16 /* as Linux's IFNAMSIZ: 15 characters and a NUL */

struct cnp_ifaces {
	unsigned count;
	char names[CNP_IFACE_MAX][CNP_IFNAMSIZ];
};

/* Empties the table. Cannot fail. */
void cnp_ifaces_init(struct cnp_ifaces *t);

/*
 * Finds `name` (of `len` bytes, not NUL-terminated) or adds it.
 * @retval CNP_ERR_INVAL name empty or longer than 15 characters
 * @retval CNP_ERR_FULL  the table holds CNP_IFACE_MAX names already
 */
int cnp_ifaces_intern(struct cnp_ifaces *t, const char *name, unsigned len,
                      uint8_t *index);

#endif
