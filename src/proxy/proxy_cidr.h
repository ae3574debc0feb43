/* proxy_cidr.h — IPv4/IPv6 addresses and CIDR ranges for IP allow-lists.
 *
 * Contract
 *   Addresses are kept in one 16-byte form: IPv6 as is, IPv4 as the IPv4-mapped IPv6 address
 *   ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). An IPv4 range a.b.c.d/n is stored as the mapped
 *   network with 96 + n prefix bits, so it matches an IPv4 peer and the same peer seen through
 *   an IPv6 socket (::ffff:a.b.c.d), as Traefik v1's whitelist (Go's net.IPNet) does.
 *
 *   Parsers take a slice (no NUL needed), never allocate and accept only the strict textual
 *   forms: dotted quad with four decimal parts 0..255 and no leading zeros ("010.0.0.1" is
 *   refused: some stacks read it as octal), RFC 4291 §2.2 IPv6 text with at most one "::" and
 *   an optional trailing dotted quad, no zone ("%eth0") and no brackets. A range is an
 *   address, optionally "/" and a decimal prefix length (0..32 for IPv4, 0..128 for IPv6);
 *   without a length it is a single host (/32 or /128). Host bits set under the mask
 *   ("10.1.2.3/8") are accepted and cleared, as Go's net.ParseCIDR does.
 *
 *   Errors: -ERR_PARSE for anything else (the caller names the key in its message).
 *   Pure functions: no state, no I/O.
 */
#ifndef PROXY_CIDR_H
#define PROXY_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_slice.h"

/* An address in the 16-byte form above. */
struct proxy_ip {
	uint8_t b[16];
};

/* A range: network address with the bits below the prefix cleared. */
struct proxy_cidr {
	struct proxy_ip net;
	uint8_t bits; /* prefix length in the 128-bit space (96 + n for IPv4 /n) */
	uint8_t v4;   /* 1 when written as IPv4 (for printing) */
};

/* Parse "a.b.c.d" or an IPv6 address. 0 or -ERR_PARSE. */
int proxy_ip_parse(struct slice s, struct proxy_ip *out);

/* The 16-byte form of a raw address: 4 bytes (IPv4, network order) or 16 bytes (IPv6), as
 * found in sockaddr_in.sin_addr / sockaddr_in6.sin6_addr. 0 or -ERR_INVAL for another len. */
int proxy_ip_from_bytes(const void *p, size_t len, struct proxy_ip *out);

/* true when the address is IPv4 (mapped). */
bool proxy_ip_is_v4(const struct proxy_ip *ip);

/* Parse "addr" or "addr/len" (see the top comment). 0 or -ERR_PARSE. */
int proxy_cidr_parse(struct slice s, struct proxy_cidr *out);

/* true when ip lies inside c. */
bool proxy_cidr_match(const struct proxy_cidr *c, const struct proxy_ip *ip);

/* true when ip lies inside any of list[0..n). An empty list matches nothing. */
bool proxy_cidr_list_match(const struct proxy_cidr *list, size_t n, const struct proxy_ip *ip);

/* Write the canonical text of an address ("10.0.0.1", "2001:db8::1") NUL-terminated into out.
 * Returns the length, or -ERR_BUF_FULL when cap < PROXY_IP_STR_MAX and the text does not
 * fit. */
#define PROXY_IP_STR_MAX 46
int proxy_ip_format(const struct proxy_ip *ip, char *out, size_t cap);

/* Parse the leftmost usable entry of an X-Forwarded-For value ("client, proxy1, proxy2"):
 * the first comma-separated element that parses as an address (surrounding spaces ignored).
 * 0 and *out set, or -ERR_NOTFOUND. Which element a whitelist should trust is the caller's
 * policy (Traefik v1 checks every element with useXForwardedFor); see
 * proxy_cidr_xff_match. */
int proxy_xff_first(struct slice xff, struct proxy_ip *out);

/* Traefik v1 useXForwardedFor semantics: true when any element of the X-Forwarded-For value
 * that parses as an address lies in the list. Elements that do not parse are skipped. */
bool proxy_cidr_xff_match(const struct proxy_cidr *list, size_t n, struct slice xff);

/* A listen or server address with a port: "ip:port", "[ipv6]:port", ":port" (every address:
 * *any = true, ip zeroed) or "localhost:port" (127.0.0.1). The port is decimal 1..65535 and
 * required. 0 or -ERR_PARSE. */
int proxy_addr_parse(struct slice s, struct proxy_ip *ip, bool *any, uint16_t *port);

/* Decimal port 1..65535 without sign or leading zeros. 0 or -ERR_PARSE. */
int proxy_port_parse(struct slice s, uint16_t *port);

#endif
