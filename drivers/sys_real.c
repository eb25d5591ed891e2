#include "drivers/sys_real.h"

#include "platform/clock.h"

#include <unistd.h>

int cnp_sys_real_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd);
}

uint64_t cnp_sys_real_mono_us(void *ctx)
{
	(void)ctx;
	return cnp_clock_mono_us();
}

uint64_t cnp_sys_real_wall_us(void *ctx)
{
	(void)ctx;
	return cnp_clock_wall_us();
}
