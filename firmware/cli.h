/* Sub-commands of the canopy command line (firmware/main.c dispatches). */
#ifndef CNP_CLI_H
#define CNP_CLI_H

/*
 * `canopy status [options]` (argv[1] is "status"). Returns the process
 * exit status: 0 data flowing, 1 not flowing or agent not running,
 * 2 usage error, 3 no readable status file.
 */
int cnp_cli_status(int argc, char **argv);

#endif
