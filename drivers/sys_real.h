/*
 * The real close(2) and clocks in the shape of the drivers' system-call
 * tables (drivers/socketcan_sys.h, drivers/gnss_sys.h): the table's ctx
 * first, unused.
 */
#ifndef CNP_SYS_REAL_H
#define CNP_SYS_REAL_H

#include <stdint.h>

int cnp_sys_real_close(void *ctx, int fd);
uint64_t cnp_sys_real_mono_us(void *ctx); /* cnp_clock_mono_us() */
uint64_t cnp_sys_real_wall_us(void *ctx); /* cnp_clock_wall_us() */

#endif
