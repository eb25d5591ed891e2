/*
 * One CAN, CAN FD, remote or error frame as canopy carries it from a source
 * to the batch encoder.
 */
#ifndef CNP_FRAME_H
#define CNP_FRAME_H

#include <stdint.h>

#define CNP_FRAME_MAX_DATA 64

/* flags */
#define CNP_FRAME_EXT 0x01u /* 29-bit identifier */
#define CNP_FRAME_FD 0x02u  /* CAN FD frame */
#define CNP_FRAME_RTR 0x04u /* remote transmission request */
#define CNP_FRAME_ERR 0x08u /* error frame: id holds the error class bits */

/*
 * style: how the frame was written as candump text, so that raw capture can
 * give back exactly the text that went in. 0 is can-utils' own style for a
 * SocketCAN capture: unpadded seconds, upper-case hex, LF line end.
 */
#define CNP_STYLE_SEC_WIDTH_MASK 0x1Fu /* zero-padded seconds width, 0: none */
#define CNP_STYLE_LOWER_HEX 0x20u      /* hex digits in lower case */
#define CNP_STYLE_CRLF 0x40u           /* line ended with CR LF */
#define CNP_STYLE_NO_EOL 0x80u         /* last line of a file, no line end */

struct cnp_frame {
	uint64_t ts_us;  /* capture time, microseconds (source clock) */
	uint32_t id;     /* 11 or 29 bits; for ERR frames the error class */
	uint8_t flags;   /* CNP_FRAME_* */
	uint8_t fd_flags;/* CAN FD flags nibble as in canfd_frame.flags (BRS 1,
	                    ESI 2); 0 for classic frames */
	uint8_t len;     /* data bytes: 0..8 classic, 0..64 FD (valid FD lengths) */
	uint8_t dlc;     /* classic: raw DLC when it differs from len (9..15 with
	                    len 8, or a remote frame's DLC); otherwise 0 */
	uint8_t iface;   /* index into the agent's interface table */
	uint8_t style;   /* CNP_STYLE_* */
	uint8_t data[CNP_FRAME_MAX_DATA];
};

/* Nonzero if `len` is a valid CAN FD payload length. */
static inline int cnp_frame_fd_len_valid(unsigned len)
{
	return len <= 8 || len == 12 || len == 16 || len == 20 || len == 24 ||
	       len == 32 || len == 48 || len == 64;
}

#endif
