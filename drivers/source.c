#include "drivers/source.h"

#include "firmware/error.h"
#include "platform/log.h"

#include <string.h>

int cnp_source_create(const struct cnp_source_config *cfg, struct cnp_ifaces *ifaces,
                      struct cnp_source **out)
{
	if (strcmp(cfg->type, "candump") == 0)
		return cnp_candump_source_create(cfg, ifaces, out);
	if (strcmp(cfg->type, "sim") == 0)
		return cnp_sim_source_create(cfg, ifaces, out);
	if (strcmp(cfg->type, "socketcan") == 0)
		return cnp_socketcan_source_create(cfg, ifaces, out);
	if (strcmp(cfg->type, "gnss") == 0)
		return cnp_gnss_source_create(cfg, ifaces, out);
	cnp_error("unknown source type \"%s\"", cfg->type);
	return CNP_ERR_CONFIG;
}

void cnp_source_destroy(struct cnp_source *src)
{
	if (src)
		src->ops->destroy(src);
}
