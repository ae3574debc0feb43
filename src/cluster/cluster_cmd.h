/* cluster_cmd.h — the commands of the replicated state machine and their wire encoding.
 *
 * Contract
 *
 * - A command is what a proposer hands to Raft and what every control node applies, in log
 *   order, through cluster_sm_apply (cluster_sm.h). This file defines the command set, the
 *   node-table vocabulary (roles, states) and one binary encoding, version 1, described field by
 *   field in docs/internals/cluster-state.md. Encoding is canonical: a command has exactly one
 *   byte form, so decode(encode(c)) == c and encode(decode(b)) == b for every b decode accepts.
 * - Decoding treats its input as untrusted. Every length is checked against the bytes left and
 *   against the field's bounds before it is used; nothing is read past `len`; trailing bytes,
 *   unknown enum values, negative timestamps and bad characters are refused. Decoding never
 *   allocates and never crashes (tests/fuzz/fuzz_cluster_cmd.c).
 * - Zero copy: a decoded struct cluster_cmd holds slices into the input buffer; it is valid
 *   exactly as long as that buffer is. Encoding copies everything into the caller's buf.
 * - Determinism: decoding and cluster_cmd_check depend on the bytes only (no clock, no
 *   randomness, no configuration), so every node reaches the same verdict on the same entry.
 *   Timestamps and IDs are filled in by the proposer.
 * - Errors: -ERR_CLUSTER_CMD (malformed: which field and why in `why`),
 *   -ERR_CLUSTER_CMD_VERSION (another encoding version or an unknown command type: the entry
 *   was written by a newer build), -ERR_PKI_CERT / -ERR_PKI_KEY (CLUSTER_INIT's CA does not
 *   load), -ERR_CLUSTER_TOKEN (a token text that does not match its verifier, role or CA),
 *   -ERR_CLUSTER_DEPLOY (a static configuration of the wrong shape), -ERR_BUF_FULL (encode:
 *   the buf is unchanged). `why`, when not NULL, receives a NUL-terminated sentence naming the
 *   field ("node_join.name: character 4 not allowed"); it never holds secret bytes.
 *
 * Times are int64 milliseconds since the Unix epoch (UTC), never negative.
 */
#ifndef CLUSTER_CLUSTER_CMD_H
#define CLUSTER_CLUSTER_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "base/base_id.h"
#include "base/base_slice.h"
#include "json/json.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_token.h"

/* Encoding: magic "TC", version, type. */
#define CLUSTER_CMD_MAGIC0 'T'
#define CLUSTER_CMD_MAGIC1 'C'
#define CLUSTER_CMD_VERSION 1u
#define CLUSTER_CMD_HEADER 4u

/* Field bounds (bytes). */
#define CLUSTER_NAME_MAX 64      /* cluster name (the CA's O) */
#define CLUSTER_NODE_NAME_MAX 63 /* node name: a host name label or --name */
#define CLUSTER_ADDR_MAX 255     /* advertise address "host:port" */
#define CLUSTER_SERIAL_MAX 20    /* X.509 serial (RFC 5280 §4.1.2.2) */
#define CLUSTER_LICENSE_MAX 16384
#define CLUSTER_WHY_MAX 128 /* a useful size for `why` buffers */

/* Caps carried by CLUSTER_INIT / LIMITS_SET (struct cluster_limits): defaults and bounds. */
#define CLUSTER_MAX_NODES_DEFAULT 64u
#define CLUSTER_MAX_NODES_LIMIT 1024u
#define CLUSTER_MAX_ROUTING_DEFAULT (4u << 20)
#define CLUSTER_MAX_ROUTING_MIN 1024u
#define CLUSTER_MAX_ROUTING_LIMIT (64u << 20)
#define CLUSTER_MAX_DEPLOY_DEFAULT (256u << 10)
#define CLUSTER_MAX_DEPLOY_MIN 1024u
#define CLUSTER_MAX_DEPLOY_LIMIT (4u << 20)
#define CLUSTER_MAX_REVOKED_DEFAULT 1024u
#define CLUSTER_MAX_REVOKED_LIMIT 65536u

/* Largest encoded command decode accepts (a routing document at its limit plus headers). */
#define CLUSTER_CMD_MAX ((size_t)CLUSTER_MAX_ROUTING_LIMIT + 4096u)

/* JSON tokens a static configuration may need (cluster_cmd_check_deploy). A constant, not a
 * setting: the verdict must be the same on every node. */
#define CLUSTER_DEPLOY_TOKENS 4096

enum cluster_cmd_type {
	CLUSTER_CMD_INIT = 1,        /* create the cluster: identity, license, CA, tokens, limits */
	CLUSTER_CMD_NODE_JOIN = 2,   /* add a node (PENDING, DOWN, ACTIVE) */
	CLUSTER_CMD_NODE_STATUS = 3, /* READY/DOWN seen by the leader; only changes are proposed */
	CLUSTER_CMD_NODE_AVAIL = 4,  /* ACTIVE/PAUSE/DRAIN */
	CLUSTER_CMD_NODE_REMOVE = 5, /* drop a node and revoke its certificates */
	CLUSTER_CMD_DEPLOY = 6,      /* static configuration (entry points, provider) */
	CLUSTER_CMD_ROUTING_SET = 7, /* routing document + revision */
	CLUSTER_CMD_LICENSE_SET = 8, /* replace the license */
	CLUSTER_CMD_CERT_REVOKE = 9, /* add a serial to the deny list */
	CLUSTER_CMD_TOKEN_ROTATE = 10,   /* replace one role's join token */
	CLUSTER_CMD_BOOTSTRAP_DONE = 11, /* the control nodes asked for have joined */
	CLUSTER_CMD_REVOKED_PURGE = 12,  /* forget revoked serials whose certificate expired */
	CLUSTER_CMD_LIMITS_SET = 13,     /* change the caps */
	CLUSTER_CMD_NODE_CERT = 14,      /* a node's certificate was renewed */
	CLUSTER_CMD_NODE_ADDR = 15,      /* a node restarted with another --advertise */
};
#define CLUSTER_CMD_TYPE_MAX 15
/* Every build reads the types up to this one; a type above it is proposed only once every
 * member of the Raft configuration says it reads it (node.md, "Upgrades"). */
#define CLUSTER_CMD_TYPE_BASE 13

/* Node table vocabulary. Stored and encoded as these numbers: never renumber. */
enum cluster_role {
	CLUSTER_ROLE_CONTROL = 1,
	CLUSTER_ROLE_DATA = 2,
};
enum cluster_membership {
	CLUSTER_MEMBER_PENDING = 1, /* joined, not seen READY yet */
	CLUSTER_MEMBER_ACCEPTED = 2,
};
enum cluster_status {
	CLUSTER_STATUS_READY = 1,
	CLUSTER_STATUS_DOWN = 2,
};
enum cluster_avail {
	CLUSTER_AVAIL_ACTIVE = 1,
	CLUSTER_AVAIL_PAUSE = 2,
	CLUSTER_AVAIL_DRAIN = 3,
};

/* The caps every node applies identically (they are replicated, not local settings). */
struct cluster_limits {
	uint32_t max_nodes;         /* nodes in the table: -ERR_CLUSTER_NODES_FULL */
	uint32_t max_routing_bytes; /* routing document: -ERR_CLUSTER_ROUTING_TOO_LARGE */
	uint32_t max_deploy_bytes;  /* static configuration: -ERR_CLUSTER_DEPLOY_TOO_LARGE */
	uint32_t max_revoked;       /* revoked serials kept: -ERR_CLUSTER_REVOKED_FULL */
};

void cluster_limits_default(struct cluster_limits *l);
/* 0 when every cap is within its bounds above, else -ERR_CLUSTER_LIMITS naming it in why. */
int cluster_limits_check(const struct cluster_limits *l, char *why, size_t cap);

/* Commands. Every struct slice points into the decoded input (or, when encoding, into the
 * proposer's memory). Fixed-size byte fields are slices of exactly that size. */
struct cluster_cmd_init {
	struct slice cluster_id;       /* 25 of [0-9a-z] */
	struct slice name;             /* 1..CLUSTER_NAME_MAX of [A-Za-z0-9._-] */
	int64_t created_at;            /* ms */
	struct slice license;          /* 1..CLUSTER_LICENSE_MAX printable ASCII */
	struct slice ca_cert;          /* DER, 1..PKI_CERT_MAX; must load with ca_key */
	struct slice ca_key;           /* DER (SEC1 or PKCS#8), 1..PKI_KEY_DER_MAX */
	struct slice control_verifier; /* PKI_VERIFIER_LEN bytes */
	struct slice data_verifier;    /* PKI_VERIFIER_LEN bytes */
	struct slice control_token;    /* "" (not kept) or the PKI_TOKEN_LEN text form */
	struct slice data_token;       /* "" or the text form */
	struct cluster_limits limits;
};
struct cluster_cmd_join {
	struct slice id;        /* 25 of [0-9a-z] */
	struct slice name;      /* 1..CLUSTER_NODE_NAME_MAX of [A-Za-z0-9._-] */
	uint8_t role;           /* enum cluster_role */
	struct slice addr;      /* advertise address: 1..CLUSTER_ADDR_MAX of visible ASCII */
	struct slice serial;    /* the node certificate's serial, 1..CLUSTER_SERIAL_MAX bytes */
	int64_t cert_not_after; /* ms: when the certificate (and so its revocation) expires */
	int64_t at;             /* ms: joined at */
};
struct cluster_cmd_status {
	struct slice id;
	uint8_t status; /* enum cluster_status */
	int64_t at;
};
struct cluster_cmd_avail {
	struct slice id;
	uint8_t availability; /* enum cluster_avail */
	int64_t at;
};
struct cluster_cmd_addr {
	struct slice id;
	struct slice addr; /* the new advertise address: 1..CLUSTER_ADDR_MAX of visible ASCII */
	int64_t at;
};
struct cluster_cmd_remove {
	struct slice id;
	uint8_t force; /* 0/1: remove even when READY */
	int64_t at;
};
struct cluster_cmd_deploy {
	struct slice config; /* the static configuration JSON (cluster_cmd_check_deploy) */
	int64_t at;
};
struct cluster_cmd_routing {
	uint64_t revision; /* >= 1; must grow */
	int64_t at;
	struct slice doc; /* routing document JSON (an object) */
};
struct cluster_cmd_license {
	struct slice license;
	int64_t at;
};
struct cluster_cmd_revoke {
	struct slice serial;
	int64_t not_after; /* ms: the entry may be purged after this */
	int64_t at;
};
struct cluster_cmd_token {
	uint8_t role;          /* CLUSTER_ROLE_CONTROL or _DATA */
	struct slice verifier; /* PKI_VERIFIER_LEN bytes */
	struct slice token;    /* "" or the text form */
	int64_t at;
};
struct cluster_cmd_bootstrap_done {
	struct slice id; /* the bootstrap node */
	int64_t at;
};
struct cluster_cmd_purge {
	int64_t before; /* ms: drop entries whose not_after < before */
};
struct cluster_cmd_limits_set {
	struct cluster_limits limits;
};
/* A renewed node certificate (same node ID, new key), proposed by the leader that issued it.
 * keep_serial is the certificate the renewing node presented: the node table's current serial
 * or its previous one. It is never revoked, so a node whose answer was lost (the entry
 * committed, the new certificate never delivered) still has a valid certificate and retries
 * with it. The row then holds {current: serial, previous: keep}; whichever of the row's two
 * serials is not keep_serial is revoked (docs/internals/cluster-state.md, NODE_CERT). */
struct cluster_cmd_cert {
	struct slice id;          /* 25 of [0-9a-z] */
	struct slice keep_serial; /* presented: the row's serial or prev_serial, 1..SERIAL_MAX */
	struct slice serial;      /* the new certificate's, 1..CLUSTER_SERIAL_MAX, != keep_serial */
	int64_t cert_not_after;   /* ms: the new certificate's notAfter */
	int64_t keep_not_after;   /* ms: the notAfter the row holds for keep_serial */
	int64_t at;               /* ms: renewed at */
};

struct cluster_cmd {
	enum cluster_cmd_type type;
	union {
		struct cluster_cmd_init init;
		struct cluster_cmd_join join;
		struct cluster_cmd_status status;
		struct cluster_cmd_avail avail;
		struct cluster_cmd_remove remove;
		struct cluster_cmd_deploy deploy;
		struct cluster_cmd_routing routing;
		struct cluster_cmd_license license;
		struct cluster_cmd_revoke revoke;
		struct cluster_cmd_token token;
		struct cluster_cmd_bootstrap_done bootstrap_done;
		struct cluster_cmd_purge purge;
		struct cluster_cmd_limits_set limits;
		struct cluster_cmd_cert cert;
		struct cluster_cmd_addr addr;
	} u;
};

/* Check everything decode checks (field bounds and characters, enum values, the CA loading
 * with its key, token texts agreeing with their verifier, role and CA, JSON documents being
 * well formed objects, a NODE_CERT's serial differing from its keep_serial). The static
 * configuration's shape needs a token array and is checked by cluster_cmd_check_deploy.
 * 0 or one of the errors in the file comment. */
int cluster_cmd_check(const struct cluster_cmd *c, char *why, size_t why_cap);

/* Append the encoding of c to out (after cluster_cmd_check). Returns the bytes appended or a
 * negative error; -ERR_BUF_FULL leaves out unchanged. */
int cluster_cmd_encode(const struct cluster_cmd *c, struct buf *out);
/* Exact encoded size of a command that passes cluster_cmd_check. */
size_t cluster_cmd_size(const struct cluster_cmd *c);

/* Decode buf[0..len) into *out (views into buf) and cluster_cmd_check it. */
int cluster_cmd_decode(const void *buf, size_t len, struct cluster_cmd *out, char *why,
		       size_t why_cap);

/* The static configuration `traefikee deploy` commits (docs/internals/cluster-state.md):
 *
 *   { "entryPoints": { "<name>": { "address": ":80", ... }, ... },   required
 *     "defaultEntryPoints": ["http", ...],                           optional, names above
 *     "providers": { "consul" | "etcd" | "file": { ... } },          optional, one provider
 *     "providersThrottleDuration": "2s",                             optional
 *     "insecureSkipVerify": false,                                   optional
 *     "rootCAs": ["-----BEGIN CERTIFICATE-----...", ...] }           optional
 *
 * insecureSkipVerify and rootCAs are copied into every routing document: they are how the
 * data plane verifies https:// backend servers (docs/internals/routing.md).
 *
 * Entry point objects are routing-document entry points (docs/internals/routing.md) and are
 * checked there; here only the shape. toks: a caller array of `ntoks` (>= 1) tokens;
 * CLUSTER_DEPLOY_TOKENS is what apply uses. 0 or -ERR_CLUSTER_DEPLOY (why names the key). */
int cluster_cmd_check_deploy(struct slice config, json_tok *toks, size_t ntoks, char *why,
			     size_t why_cap);

/* A join token text (when not empty) against its verifier, the role it must admit
 * (CLUSTER_ROLE_*) and, when ca_digest is not NULL, the cluster CA it must pin. Constant time
 * in the secret. 0, -ERR_CLUSTER_TOKEN (why says which part), -ERR_CLUSTER_CMD (a verifier
 * that is not PKI_VERIFIER_LEN bytes). */
int cluster_token_check(struct slice text, struct slice verifier, int role,
			const unsigned char *ca_digest, char *why, size_t why_cap);

/* 1 if s is 25 characters of [0-9a-z]: the shape of node and cluster IDs. IDs we make come from
 * id_generate (base_id.h); the state machine accepts the shape, so IDs written elsewhere (the
 * seed document's, a restored archive's) are kept as they are. */
int cluster_id_valid(struct slice s);
/* 1 if s is 1..max characters of [A-Za-z0-9._-]: node and cluster names. */
int cluster_name_valid(struct slice s, size_t max);

/* Names for logs, tables and JSON; "?" for values out of range. */
const char *cluster_cmd_type_name(int type);        /* "NODE_JOIN" */
const char *cluster_role_str(int role);             /* "CONTROL NODE", "DATA NODE" */
const char *cluster_membership_str(int membership); /* "PENDING", "ACCEPTED" */
const char *cluster_status_str(int status);         /* "READY", "DOWN" */
const char *cluster_avail_str(int availability);    /* "ACTIVE", "PAUSE", "DRAIN" */
/* Parse "active" / "pause" / "drain" (any case). 0 or -ERR_INVAL. */
int cluster_avail_parse(struct slice s, enum cluster_avail *out);

#endif
