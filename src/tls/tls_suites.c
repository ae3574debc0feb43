/* tls_suites.c — cipher suites by Go crypto/tls name, and the server-side restriction.
 *
 * Traefik v1 takes entryPoints.<n>.tls.cipherSuites as the names of Go's crypto/tls
 * constants. The table below lists every name Go had up to 1.14, with its IANA id, so the
 * configuration loader can refuse a typo, warn about a real suite we do not serve (CBC, RC4,
 * 3DES, static RSA key exchange, TLS 1.3) and restrict a server config to the rest.
 * Pure functions over const tables, except tls_server_restrict_suites (the config).
 */
#include "tls/tls.h"

#include <string.h>

#include "base/base_err.h"

static const struct tls_suite_info go_suites[] = {
	/* Go 1.10 crypto/tls (cipher_suites.go) */
	{"TLS_RSA_WITH_RC4_128_SHA", 0x0005, false},
	{"TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x000a, false},
	{"TLS_RSA_WITH_AES_128_CBC_SHA", 0x002f, false},
	{"TLS_RSA_WITH_AES_256_CBC_SHA", 0x0035, false},
	{"TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003c, false},
	{"TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009c, false},
	{"TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009d, false},
	{"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xc007, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xc009, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", 0xc00a, false},
	{"TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xc011, false},
	{"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xc012, false},
	{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xc013, false},
	{"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xc014, false},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", 0xc023, false},
	{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xc027, false},
	{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, true},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	 true},
	{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true},
	{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	 true},
	{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	 true},
	{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	 true},
	{"TLS_FALLBACK_SCSV", 0x5600, false}, /* a signal, not a suite; Traefik v1 lists it */
	/* Go 1.12: TLS 1.3 (we serve TLS 1.2 only) */
	{"TLS_AES_128_GCM_SHA256", 0x1301, false},
	{"TLS_AES_256_GCM_SHA384", 0x1302, false},
	{"TLS_CHACHA20_POLY1305_SHA256", 0x1303, false},
	/* Go 1.14: the ChaCha20 names with their hash */
	{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	 BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true},
	{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	 BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
};

/* The suites tls_conn.c offers, as a mask: their low six bits are distinct (the sum of the
 * bits equals their union), so TLS_SUITE_BIT names each one alone. */
#define SUITE_BITS_OR                                                      \
	(TLS_SUITE_BIT(BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) |       \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384) |       \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) | \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) |         \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) |         \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256))
#define SUITE_BITS_SUM                                                     \
	(TLS_SUITE_BIT(BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) +       \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384) +       \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256) + \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) +         \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) +         \
	 TLS_SUITE_BIT(BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256))
_Static_assert(SUITE_BITS_OR == SUITE_BITS_SUM,
	       "two supported suites share a TLS_SUITE_BIT: widen tls_server_config.suite_mask");

const struct tls_suite_info *tls_suite_by_go_name(const char *name, size_t len)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof go_suites / sizeof go_suites[0]; i++)
		if (strlen(go_suites[i].go_name) == len &&
		    memcmp(go_suites[i].go_name, name, len) == 0)
			return &go_suites[i];
	return NULL;
}

static bool suite_served(unsigned id)
{
	for (size_t i = 0; i < sizeof go_suites / sizeof go_suites[0]; i++)
		if (go_suites[i].supported && go_suites[i].id == id)
			return true;
	return false;
}

int tls_server_restrict_suites(struct tls_server_config *cfg, const uint16_t *ids, size_t n)
{
	uint64_t mask = 0;

	if (!cfg || (n && !ids))
		return -ERR_INVAL;
	for (size_t i = 0; i < n; i++) {
		if (!suite_served(ids[i]))
			return -ERR_INVAL;
		mask |= TLS_SUITE_BIT(ids[i]);
	}
	cfg->suite_mask = mask;
	return 0;
}
