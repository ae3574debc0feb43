/* proxy_pp.h — PROXY protocol headers (HAProxy's proxy-protocol.txt, versions 1 and 2) in
 * front of a client connection: Traefik v1's entry point `proxyProtocol` option.
 * docs/internals/proxy-pp.md has the user-facing semantics.
 *
 * Contract
 *   proxy_pp_parse is a pure function over the first bytes a connection received (the
 *   caller's buffer, never written, nothing allocated). It reads at most PROXY_PP_MAX bytes
 *   and returns
 *     > 0            a complete header of that many bytes; *r says what it carries
 *     -ERR_PARTIAL   the bytes so far are the start of a header: wait for more
 *     -ERR_NOTFOUND  the bytes cannot start a header (an HTTP request, a TLS ClientHello):
 *                    consume nothing, serve the connection as it is
 *     -ERR_PARSE     a header that is malformed, of an unsupported kind, or longer than
 *                    PROXY_PP_MAX: the connection must be closed
 *   Every proper prefix of an input that returns k > 0 or -ERR_PARSE returns -ERR_PARTIAL or
 *   that same result, so a caller may parse what has arrived so far and retry when more
 *   does. A parse error found inside a v1 line before its end (a byte that is not printable
 *   ASCII, a CR not followed by LF, 107 bytes without LF) is reported at once.
 *
 *   Version 1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 alike; IPv4 dotted quads
 *   for TCP4, IPv6 text for TCP6), single spaces, decimal ports 0..65535 without leading
 *   zeros, at most 107 bytes; "PROXY UNKNOWN[ anything]\r\n" carries no address.
 *   Version 2: the 12-byte signature \r\n\r\n\0\r\nQUIT\n, version 2, command LOCAL (no
 *   address) or PROXY; with PROXY, AF_INET or AF_INET6 over STREAM carry the addresses,
 *   AF_UNSPEC and AF_UNIX over STREAM carry none the proxy can use (kept as local), every
 *   other family / protocol combination is -ERR_PARSE. TLVs after the addresses are skipped
 *   (not interpreted, CRC32c not checked).
 *
 *   proxy_pp_recv does the socket side for the connection engine: it peeks (MSG_PEEK) at what
 *   arrived, parses it and, for a complete header, reads exactly the header's bytes off the
 *   socket so that the next reader (TLS or HTTP) starts right after it.
 */
#ifndef PROXY_PP_H
#define PROXY_PP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/proxy_cidr.h"
#include "proxy/proxy_config.h"

/* Longest header accepted (v2 signature and fixed part, 36 address bytes for AF_INET6, and
 * up to 460 bytes of TLVs; a v1 line is at most 107). The engine's peek buffer. */
#define PROXY_PP_MAX 512
#define PROXY_PP_V1_MAX 107

struct proxy_pp_result {
	uint8_t version; /* 1 or 2 */
	uint8_t local;   /* 1: no usable address (v1 UNKNOWN, v2 LOCAL, AF_UNSPEC, AF_UNIX): keep
			    the connection's own peer address */
	struct proxy_ip src, dst; /* when !local (IPv4 in the mapped form, proxy_cidr.h) */
	uint16_t src_port, dst_port;
};

/* See the contract above. */
int proxy_pp_parse(const uint8_t *p, size_t n, struct proxy_pp_result *r);

/* Whether a connection from peer on entry point ep may start with a header: the entry point
 * has `proxyProtocol` and either `insecure` or the peer inside `trustedIPs`. */
bool proxy_pp_trusted(const struct proxy_entrypoint *ep, const struct proxy_ip *peer);

/* On a non-blocking stream socket: look at the first bytes (MSG_PEEK, up to PROXY_PP_MAX)
 * and consume a complete header. Returns the header length (> 0, *r filled, the bytes read
 * off the socket), -ERR_NOTFOUND (no header: nothing consumed), -ERR_PARTIAL (the start of a
 * header: wait for the socket to be readable again; *avail says how many bytes were seen),
 * -ERR_AGAIN (nothing to read yet), -ERR_PARSE (malformed), -ERR_CLOSED (the peer closed
 * before a header ended) or an errno-derived error. */
int proxy_pp_recv(int fd, struct proxy_pp_result *r, size_t *avail);

/* Warn (log) about every entry point of t whose proxyProtocol is `insecure` (a header is
 * taken from any peer, which can then claim any client address). Called when a document is
 * applied. Returns how many were found. */
uint32_t proxy_pp_table_check(const struct proxy_table *t);

#endif
