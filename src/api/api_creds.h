/* api_creds.h — the admin credentials bundle on disk.
 *
 * One directory (mode 0700) holds:
 *
 *   ca.pem       the cluster CA certificate             PEM, mode 0644
 *   admin.pem    the admin client certificate           PEM, mode 0644
 *   admin.key    its private key                        PEM (SEC1), mode 0600
 *   config.json  {"apiAddress":"host:55055"}            mode 0600 (traefikeectl's copy only)
 *
 * Who writes and reads it:
 *   - bootstrap issues the admin certificate (api_creds_issue) and writes the first three files
 *     into --mtlscertsoutputdir (default ./.traefikee) with api_creds_write;
 *   - `traefikeectl connect --onpremise.mtlscertsdir=DIR --onpremise.apiaddress=HOST:55055`
 *     loads DIR, adds the address and writes all four files into
 *     $HOME/.config/traefikee/<clustername> (api_creds_connect, api_creds_cluster_dir);
 *   - every other traefikeectl command loads that directory (api_creds_load) and gives it to
 *     api_client_init_creds.
 *
 * Every file is written atomically (pki_file_write_atomic: a reader sees the old file or the
 * new one). Loading checks up front what a TLS handshake would only report late and vaguely:
 * PEM syntax, that admin.pem is an admin certificate issued by ca.pem and valid at `now`,
 * that admin.key matches it, and the address syntax. Errors carry a sentence in cr->errmsg
 * naming the file and what to do.
 *
 * Errors: -ERR_NOTFOUND (a file or the directory is missing), -ERR_PERM (unreadable,
 * unwritable), -ERR_API_CREDS (a file is malformed or does not fit the others), -ERR_INVAL
 * (bad argument: cluster name, address, home), -ERR_RANGE (path too long), or the errno of a
 * failing system call, mapped. These functions make blocking system calls: CLI and start-up
 * paths only, never the event loop.
 *
 * Secrets: the struct holds the private key; wipe it with api_creds_wipe when done.
 */
#ifndef API_API_CREDS_H
#define API_API_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api_server.h"
#include "base/base_rand.h"
#include "pki/pki_cert.h"

#define API_CREDS_CA_FILE "ca.pem"
#define API_CREDS_CERT_FILE "admin.pem"
#define API_CREDS_KEY_FILE "admin.key"
#define API_CREDS_CONFIG_FILE "config.json"

#define API_CREDS_PEM_MAX 8192 /* ca.pem, admin.pem */
#define API_CREDS_KEY_MAX 1024 /* admin.key */
#define API_CREDS_CONFIG_MAX 1024
#define API_CLUSTER_NAME_MAX 64 /* [A-Za-z0-9._-], not starting with '.' */
#define API_DEFAULT_PORT 55055

struct api_creds {
	char ca_pem[API_CREDS_PEM_MAX];
	size_t ca_len;
	char cert_pem[API_CREDS_PEM_MAX];
	size_t cert_len;
	char key_pem[API_CREDS_KEY_MAX];
	size_t key_len;
	char address[API_ADDR_MAX]; /* "host:port"; "" when not known */
	/* filled by api_creds_check (and so by load and issue) */
	struct pki_identity admin; /* the certificate's CN, OU=admin, O=<cluster> */
	int64_t not_after;         /* of admin.pem, epoch seconds */
	char errmsg[512];
};

/* Issue fresh admin credentials from the cluster CA: a new P-256 key from r, an admin
 * certificate for `name` valid `lifetime` seconds (0: the CA's remaining life), the CA's PEM.
 * Errors of pki_key_generate / pki_cert_issue. */
int api_creds_issue(struct api_creds *cr, const struct pki_ca *ca, struct rand *r, const char *name,
		    int64_t lifetime, int64_t now);

/* Check the PEM texts in cr against each other at time now (see the top comment); fills
 * cr->admin and cr->not_after. 0 or -ERR_API_CREDS. */
int api_creds_check(struct api_creds *cr, int64_t now);

/* Create dir (and missing parents) with mode 0700 — an existing dir is set to 0700 — then
 * write ca.pem, admin.pem, admin.key, and config.json when cr->address is set. */
int api_creds_write(struct api_creds *cr, const char *dir);

/* Read the bundle in dir and check it at now. need_address: config.json must be there too
 * (else it is read when present). */
int api_creds_load(struct api_creds *cr, const char *dir, bool need_address, int64_t now);

/* "<home>/.config/traefikee/<cluster>" into out. -ERR_INVAL for an empty or relative home
 * or a cluster name outside [A-Za-z0-9._-]{1,64} (or starting with '.'), -ERR_RANGE. */
int api_creds_cluster_dir(char *out, size_t cap, const char *home, const char *cluster);

/* traefikeectl connect: load src_dir (as bootstrap wrote it), set the API address ("host" alone
 * gets :55055), write everything to dst_dir. cr holds the result. */
int api_creds_connect(struct api_creds *cr, const char *src_dir, const char *address,
		      const char *dst_dir, int64_t now);

/* 0 if addr is a usable API address for a client: "host:port", "[v6]:port", host not empty,
 * port 1..65535. */
int api_creds_address_check(const char *addr);

void api_creds_wipe(struct api_creds *cr);

#endif
