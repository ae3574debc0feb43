/* cluster_backup.h — backup archives: writing one from the state machine, reading and checking
 * one, and turning it into the commands that recreate the cluster
 * (`traefikee bootstrap --archivepath=FILE`).
 *
 * Format (docs/internals/cluster-state.md has every field): a POSIX ustar tar file, written here
 * (no libarchive), named YYYY-MM-DDTHHMMSS_traefikee-backup.tar, with these regular files, in
 * this order, all mode 0600 (the archive holds the CA key and the join tokens):
 *
 *   manifest.json        format "traefikee-backup", version 1, cluster ID and name, creation
 *                        time, applied index it was taken at, routing revision, limits, and
 *                        the size and SHA-256 of every other member
 *   license.txt          the license key
 *   ca.crt, ca.key       the cluster CA certificate and private key (PEM)
 *   tokens.json          the join token verifiers (and texts, when the cluster keeps them)
 *   static-config.json   the deployed static configuration (when there is one)
 *   routing.json         the routing document (when there is one)
 *   nodes.json           the node table, for information (not restored: nodes join again)
 *   revoked.txt          revoked certificate serials, one per line (restored: the CA is kept)
 *   manifest.sha256      SHA-256 of manifest.json in sha256sum's format, so that the manifest
 *                        is covered too and `sha256sum -c manifest.sha256` checks it by hand
 *
 * Reading (cluster_backup_read) checks everything before anything is done with the archive:
 * block alignment, every tar header's checksum, magic and type, sizes against the archive, the
 * member names, the manifest's own hash, its format and version, every member's size and SHA-256,
 * and every member's content (the CA loads with its key, the tokens match their verifiers and pin
 * the CA, the documents are well formed and within the archived limits, the restore plan encodes).
 * A refusal is -ERR_CLUSTER_BACKUP (or -ERR_CLUSTER_BACKUP_VERSION for a newer format) with a
 * sentence in b->errmsg naming the member and the problem. Nothing is trusted and nothing is
 * read past the buffer (tests/fuzz/fuzz_cluster_backup.c).
 *
 * Memory: the archive is held by the caller, whole, in one buffer; results are views into it
 * (valid while it is) and small copies inside struct cluster_backup. struct cluster_backup holds
 * a JSON token array (about 80 KiB): allocate it at start-up or keep it static, not on a small
 * stack. Nothing here allocates.
 */
#ifndef CLUSTER_CLUSTER_BACKUP_H
#define CLUSTER_CLUSTER_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "base/base_buf.h"
#include "cluster/cluster_cmd.h"
#include "cluster/cluster_sm.h"
#include "json/json.h"

#define CLUSTER_BACKUP_VERSION 1
#define CLUSTER_BACKUP_FORMAT "traefikee-backup"
#define CLUSTER_BACKUP_SUFFIX "_traefikee-backup.tar"
/* "2019-03-13T174230_traefikee-backup.tar" */
#define CLUSTER_BACKUP_NAME_LEN (17 + sizeof CLUSTER_BACKUP_SUFFIX - 1)
#define CLUSTER_BACKUP_ERRMSG_MAX 256
#define CLUSTER_BACKUP_MEMBERS_MAX 10

/* The file name for a backup taken at wall_ms (UTC), NUL-terminated. */
void cluster_backup_filename(int64_t wall_ms, char out[CLUSTER_BACKUP_NAME_LEN + 1]);

/* Largest archive a cluster with these limits can produce: size the buffer for
 * cluster_backup_write with it (limits from cluster_sm_info). With the limits' upper bounds,
 * it is also the largest archive cluster_backup_read accepts. */
size_t cluster_backup_max_bytes(const struct cluster_limits *l);

/* Append the archive of the state seen by t (a read transaction; NULL: one of our own) to out,
 * stamped with now_ms (UTC: the manifest's createdAt and the members' mtime). All or nothing.
 * Errors: -ERR_CLUSTER_NOT_INIT, -ERR_BUF_FULL (size out with cluster_backup_max_bytes), store
 * errors, -ERR_STORE_CORRUPT, -ERR_PKI_KEY; detail in sm->errmsg. */
int cluster_backup_write(struct cluster_sm *sm, struct store_txn *t, int64_t now_ms,
			 struct buf *out);

/* What a checked archive holds. Views point into the archive buffer. */
struct cluster_backup {
	char cluster_id[ID_LEN + 1];
	char name[CLUSTER_NAME_MAX + 1];
	char created_at[32]; /* manifest createdAt, RFC 3339, as written */
	uint64_t source_index;
	uint64_t routing_revision; /* 0 when there is no routing document */
	struct cluster_limits limits;
	struct slice license;
	unsigned char ca_cert[PKI_CERT_MAX]; /* DER */
	size_t ca_cert_len;
	unsigned char ca_key[PKI_KEY_DER_MAX]; /* DER (SEC1); secret: cluster_backup_wipe */
	size_t ca_key_len;
	struct cluster_token_info control, data; /* secrets too */
	struct slice deploy;                     /* static-config.json; len 0: none */
	struct slice routing;                    /* routing.json; len 0: none */
	struct slice revoked;                    /* revoked.txt */
	uint32_t nrevoked;
	struct slice nodes; /* nodes.json (information only) */
	json_tok toks[CLUSTER_DEPLOY_TOKENS];
	char errmsg[CLUSTER_BACKUP_ERRMSG_MAX];
};

/* Check archive[0..len) and fill *b. 0, -ERR_CLUSTER_BACKUP, -ERR_CLUSTER_BACKUP_VERSION. */
int cluster_backup_read(struct cluster_backup *b, const void *archive, size_t len);
/* Erase the key material a read left in *b. */
void cluster_backup_wipe(struct cluster_backup *b);

/* The commands that recreate the archived cluster, in order: CLUSTER_INIT (the archive's name,
 * license, CA, tokens and limits; created_at = now_ms), one CERT_REVOKE per revoked serial,
 * DEPLOY (when there was a static configuration), ROUTING_SET (when there was a routing
 * document, with its revision). The node table is not restored: nodes join the new cluster.
 *
 *     cluster_restore_begin(&r, &b, NULL, now);
 *     while ((rc = cluster_restore_next(&r, &cmd)) == 1)
 *             cluster_cmd_encode(&cmd, &proposal) ... propose, wait for the commit ...
 *
 * cluster_id: the new cluster's ID (25 of [0-9a-z]), or NULL to keep the archive's. The
 * commands' slices point into b, the archive and r: keep all three until they are encoded. */
struct cluster_restore {
	const struct cluster_backup *b;
	char cluster_id[ID_LEN + 1];
	int64_t now;
	int step;
	size_t off; /* in revoked.txt */
	unsigned char serial[CLUSTER_SERIAL_MAX];
};
void cluster_restore_begin(struct cluster_restore *r, const struct cluster_backup *b,
			   const char *cluster_id, int64_t now_ms);
/* 1 and *c filled, 0 after the last command, -ERR_CLUSTER_BACKUP (a malformed revoked.txt
 * line: cannot happen after cluster_backup_read accepted the archive). */
int cluster_restore_next(struct cluster_restore *r, struct cluster_cmd *c);

#endif
