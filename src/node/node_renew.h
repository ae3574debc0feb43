/* node_renew.h — keep a node's certificate valid: TLS configurations built from the node's
 * credentials, and a renewer that replaces the certificate before it expires.
 *
 * Contract
 *   Node certificates last 90 days (PKI_NODE_LIFETIME_DEFAULT; a control node issues
 *   TRAEFIKEE_CERT_LIFETIME seconds instead when that is set, for tests and short-lived
 *   deployments). A node renews its own at a random point between 50 % and 80 % of its
 *   lifetime (counted from issue, the backdating of notBefore left out), so the nodes of one
 *   cluster do not all ask at once:
 *     1. a fresh P-256 key;
 *     2. POST /renew {"id": node ID, "pub": hex, "serial": hex of the certificate presented}
 *        to a control node over mutual TLS with the current certificate (a data node: its
 *        control nodes in turn; a control node: the leader). The leader issues a certificate
 *        for the same node ID, role and names, and answers once the cluster has recorded it
 *        (NODE_CERT through Raft: the node table holds the new certificate and, as the
 *        previous one, the one presented; any other is revoked). The presented certificate
 *        stays valid, so an answer lost after the commit only means asking again;
 *     3. the answer is checked: it parses, carries the new key, names this node and role,
 *        and verifies against the cluster CA now;
 *     4. node_creds_replace (crash-safe) writes it to the state directory;
 *     5. on_renewed gets the new credentials: the owner builds new TLS configurations
 *        (node_tls_build) and switches its listeners and links to them. Connections already
 *        open keep their session.
 *   A failed attempt is logged and retried after 10 s, doubling to 10 min, on the next
 *   control node. The timer is re-armed at most an hour ahead, so a wall clock that jumps
 *   is noticed. A certificate already expired cannot be renewed this way (the TLS handshake
 *   fails): that is logged as an error naming the date; the node has to join again.
 */
#ifndef NODE_NODE_RENEW_H
#define NODE_NODE_RENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/node.h"
#include "node/node_link.h"
#include "pki/pki_key.h"
#include "tls/tls.h"

#define NODE_TLS_STORE (64u << 10)

/* A node's TLS configurations (heap: about 200 KiB with the stores). */
struct node_tls {
	struct tls_server_config srv;      /* optional client certificate (joiners have none) */
	struct tls_server_config srv_mtls; /* client certificate required */
	struct tls_client_config cli;      /* this node's certificate, the cluster CA */
	bool servers;
	uint8_t store_srv[NODE_TLS_STORE];
	uint8_t store_mtls[NODE_TLS_STORE];
	uint8_t store_cli[NODE_TLS_STORE];
};

/* Build the client configuration (and, with servers, the two server ones) from cr into a
 * new struct node_tls. 0 and *out, or an error with the detail in err. */
int node_tls_build(const struct node_creds *cr, bool servers, struct node_tls **out, char *err,
		   size_t cap);
/* Wipe and free (NULL is fine). */
void node_tls_free(struct node_tls *t);

struct node_renew_config {
	struct loop *loop;
	struct rand *rng;
	const char *statedir;
	const char *node_id;
	int role; /* CLUSTER_ROLE_* */
	/* The control node to ask on this attempt ("host:port"), or NULL: none known now. */
	const char *(*addr)(void *arg, unsigned attempt);
	/* The credentials were renewed and saved: switch to them. The TLS client configuration
	 * returned is the renewer's from now on (NULL: keep the old one). */
	const struct tls_client_config *(*on_renewed)(void *arg, const struct node_creds *cr);
	void *arg;
};

struct node_renew {
	struct node_renew_config cfg;
	struct node_creds creds; /* current */
	struct node_creds next;  /* being asked for */
	struct node_link link;
	bool link_init;
	struct loop_timer_id timer;
	unsigned attempt;
	uint32_t backoff_ms;
	int64_t not_after, due; /* epoch seconds */
	uint64_t renewals, failures;
	bool busy;
};

/* Start watching creds (the node's current credentials, copied) with tls (the current
 * client configuration). 0 or an error (the certificate does not parse). */
int node_renew_start(struct node_renew *r, const struct node_renew_config *cfg,
		     const struct node_creds *creds, const struct tls_client_config *tls);
void node_renew_stop(struct node_renew *r);

/* When the renewer will ask (epoch seconds), and the current certificate's notAfter. */
int64_t node_renew_due(const struct node_renew *r);

/* The pure parts of the renewer (no clock, no randomness, no I/O: the caller passes them),
 * which the renewer itself calls. */

/* Step 3 of the contract: check the leader's answer to POST /renew. cert_pem and ca_pem
 * (the answer's "certificate" and "ca", not NUL-terminated) must each hold exactly one PEM
 * object, a CERTIFICATE (text around it is ignored, another object of any label is not);
 * the CA must be cur's (the node's current credentials: only the CA is read), byte for
 * byte; the certificate must carry pub (the new key's point), name node_id in its CN and
 * role in its OU (CLUSTER_ROLE_CONTROL, else data), be within its validity at now (epoch
 * seconds), and verify against the CA at now. Not reentrant (static buffers, as the loop
 * is single-threaded). Returns 0, or with a sentence in why (cap bytes, cap > 0):
 * -ERR_PARSE (not exactly one certificate, or one that does not decode),
 * -ERR_PKI_CA_MISMATCH (another CA), -ERR_PKI_CERT (this node's own CA does not parse; the
 * certificate is for another key, node or role, outside its validity, or does not verify). */
int node_renew_check_answer(const struct node_creds *cur, const uint8_t pub[PKI_KEY_PUB_LEN],
			    const char *node_id, int role, const char *cert_pem, size_t cert_len,
			    const char *ca_pem, size_t ca_len, int64_t now, char *why, size_t cap);

/* When to renew a certificate valid from not_before to not_after (epoch seconds): a point
 * between 50 % and 80 % of its lifetime chosen by rnd (any 64-bit random number), the
 * lifetime counted from issue, that is notBefore + PKI_BACKDATE (from notBefore itself when
 * that leaves no lifetime). A certificate whose notAfter is not after its start: the start. */
int64_t node_renew_plan_at(int64_t not_before, int64_t not_after, uint64_t rnd);

/* How long the renewer's timer sleeps (milliseconds) at now for a renewal due at due: 0 when
 * due is not in the future, never more than an hour (a wall clock may jump). */
uint64_t node_renew_delay_ms(int64_t due, int64_t now);

/* The lifetime control nodes give the certificates they issue: TRAEFIKEE_CERT_LIFETIME
 * (seconds, at least PKI_LIFETIME_MIN) when set and valid, else 0 (the default). */
int64_t node_cert_lifetime(void);

#endif
