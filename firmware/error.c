#include "firmware/error.h"

const char *cnp_strerror(int err)
{
	switch (err) {
	case CNP_OK: return "success";
	case CNP_ERR_NOMEM: return "out of memory";
	case CNP_ERR_INVAL: return "invalid input";
	case CNP_ERR_IO: return "input/output error";
	case CNP_ERR_NOTFOUND: return "not found";
	case CNP_ERR_FULL: return "no room";
	case CNP_ERR_EOF: return "end of input";
	case CNP_ERR_AGAIN: return "try again later";
	case CNP_ERR_CORRUPT: return "corrupt data";
	case CNP_ERR_UNSUPPORTED: return "unsupported";
	case CNP_ERR_NET: return "network failure";
	case CNP_ERR_TLS: return "TLS failure";
	case CNP_ERR_HTTP: return "HTTP error status";
	case CNP_ERR_TOOBIG: return "too large";
	case CNP_ERR_CONFIG: return "invalid configuration";
	case CNP_ERR_CANCELLED: return "cancelled";
	case CNP_ERR_SIGNATURE: return "signature check failed";
	case CNP_ERR_KEY: return "unusable key";
	default: return "unknown error";
	}
}
