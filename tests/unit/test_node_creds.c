/* Unit tests for the node's credential files (node_util.c): node_creds_replace writes a
 * renewed certificate and key so that a crash never leaves a key that does not match its
 * certificate, and node_creds_load finishes a replacement a crash interrupted; and
 * node_cert_lifetime's reading of TRAEFIKEE_CERT_LIFETIME. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base_err.h"
#include "node/node.h"
#include "node/node_renew.h"
#include "pki/pki_cert.h"
#include "test.h"

#define CERT_A "-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----\n"
#define KEY_A "-----BEGIN EC PRIVATE KEY-----\nYWFh\n-----END EC PRIVATE KEY-----\n"
#define CERT_B "-----BEGIN CERTIFICATE-----\nQkJC\n-----END CERTIFICATE-----\n"
#define KEY_B "-----BEGIN EC PRIVATE KEY-----\nYmJi\n-----END EC PRIVATE KEY-----\n"
#define CA "-----BEGIN CERTIFICATE-----\nQ0FD\n-----END CERTIFICATE-----\n"

static char dir[64];

static void fresh_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/tee-creds-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
}

static void rm_dir(void)
{
	const char *files[] = {"node.crt", "node.key", "ca.crt", "renew.pem", "renew.pem.tmp"};
	char p[128];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void put(const char *name, const char *text)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static bool exists(const char *name)
{
	char p[128];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static void set(struct node_creds *c, const char *cert, const char *key)
{
	memset(c, 0, sizeof *c);
	c->cert_len = strlen(cert);
	memcpy(c->cert, cert, c->cert_len);
	c->key_len = strlen(key);
	memcpy(c->key, key, c->key_len);
	c->ca_len = strlen(CA);
	memcpy(c->ca, CA, c->ca_len);
}

static void replace_writes_both(void)
{
	static struct node_creds c, got;
	fresh_dir();
	set(&c, CERT_A, KEY_A);
	CHECK_EQ_INT(node_creds_save(dir, &c), 0);
	set(&c, CERT_B, KEY_B);
	CHECK_EQ_INT(node_creds_replace(dir, &c), 0);
	CHECK(!exists("renew.pem"));
	CHECK_EQ_INT(node_creds_load(dir, &got), 0);
	CHECK_EQ_STR(got.cert, CERT_B);
	CHECK_EQ_STR(got.key, KEY_B);
	CHECK_EQ_STR(got.ca, CA);
	/* The key file keeps the key mode. */
	struct stat st;
	char p[128];
	snprintf(p, sizeof p, "%s/node.key", dir);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 077) == 0);
	rm_dir();
}

/* A crash after renew.pem was written, before (or between) the two replacements: the next
 * load puts the new pair in place, whatever state node.crt and node.key were left in. */
static void load_finishes_interrupted(void)
{
	static struct node_creds c, got;
	fresh_dir();
	set(&c, CERT_A, KEY_A);
	CHECK_EQ_INT(node_creds_save(dir, &c), 0);
	put("renew.pem", CERT_B KEY_B);
	put("node.key", KEY_B); /* the crash came between the key and the certificate */
	CHECK_EQ_INT(node_creds_load(dir, &got), 0);
	CHECK_EQ_STR(got.cert, CERT_B);
	CHECK_EQ_STR(got.key, KEY_B);
	CHECK(!exists("renew.pem"));
	/* And with neither file replaced yet. */
	set(&c, CERT_A, KEY_A);
	CHECK_EQ_INT(node_creds_save(dir, &c), 0);
	put("renew.pem", CERT_B KEY_B);
	CHECK_EQ_INT(node_creds_load(dir, &got), 0);
	CHECK_EQ_STR(got.cert, CERT_B);
	CHECK_EQ_STR(got.key, KEY_B);
	rm_dir();
}

/* A renew.pem without a key (a torn or foreign file) is refused, nothing is replaced. */
static void load_refuses_bad_staging(void)
{
	static struct node_creds c, got;
	fresh_dir();
	set(&c, CERT_A, KEY_A);
	CHECK_EQ_INT(node_creds_save(dir, &c), 0);
	put("renew.pem", CERT_B);
	CHECK(node_creds_load(dir, &got) < 0);
	put("renew.pem", KEY_B);
	CHECK(node_creds_load(dir, &got) < 0);
	char p[128];
	snprintf(p, sizeof p, "%s/renew.pem", dir);
	unlink(p);
	CHECK_EQ_INT(node_creds_load(dir, &got), 0);
	CHECK_EQ_STR(got.cert, CERT_A);
	CHECK_EQ_STR(got.key, KEY_A);
	rm_dir();
}

static void lifetime_env(void)
{
	unsetenv("TRAEFIKEE_CERT_LIFETIME");
	CHECK_EQ_INT(node_cert_lifetime(), 0);
	setenv("TRAEFIKEE_CERT_LIFETIME", "60", 1);
	CHECK_EQ_INT(node_cert_lifetime(), 60);
	setenv("TRAEFIKEE_CERT_LIFETIME", "59", 1); /* under PKI_LIFETIME_MIN: the default */
	CHECK_EQ_INT(node_cert_lifetime(), 0);
	setenv("TRAEFIKEE_CERT_LIFETIME", "86400x", 1);
	CHECK_EQ_INT(node_cert_lifetime(), 0);
	setenv("TRAEFIKEE_CERT_LIFETIME", "7776000", 1);
	CHECK_EQ_INT(node_cert_lifetime(), 7776000);
	unsetenv("TRAEFIKEE_CERT_LIFETIME");
}

TEST_MAIN(replace_writes_both, load_finishes_interrupted, load_refuses_bad_staging, lifetime_env)
