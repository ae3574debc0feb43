/* fuzz_health_report.c — libFuzzer harness for what a control node reads about servers'
 * health (src/node/node_health_report.h): a data node's report body (POST /nodes/health),
 * another control node's copy of one (POST /nodes/health/copy), and the routing document
 * whose health-checked servers a data node lists.
 *
 * The first byte picks the parser (0: report, 1: copy, 2: routing document); the rest is the
 * body. Invariants, checked with abort():
 *  - a parser answers 0 or a negative error, and an error comes with a message;
 *  - an accepted report or copy holds at most NHR_SERVERS_MAX entries, sorted by key, and
 *    every entry is found again by nhr_entries_get with its verdict (a server listed twice,
 *    two servers of one backend with the same URL, with one of its verdicts);
 *  - an accepted report kept in a table and copied out parses back to the same entries,
 *    revision and truncation (the copy between control nodes loses nothing);
 *  - an accepted document lists at most NHR_SERVERS_MAX servers whose names lie inside the
 *    string space.
 */
#include "base/base_buf.h"
#include "base/base_err.h"
#include "json/json.h"
#include "node/node_health_report.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                          \
	do {                                                                                    \
		if (!(c)) {                                                                     \
			fprintf(stderr, "fuzz_health_report: invariant failed: %s (line %d)\n", \
				#c, __LINE__);                                                  \
			abort();                                                                \
		}                                                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOC_TOKENS 8192

static json_tok toks[NHR_TOKENS > DOC_TOKENS ? NHR_TOKENS : DOC_TOKENS];
static struct nhr_report rep, back;
static struct nhr_srvlist list;
static struct nhr_table table;
static char copy[NHR_COPY_MAX];
static int ready;

static void check_entries(const struct nhr_report *r)
{
	FUZZ_ASSERT(r->n <= NHR_SERVERS_MAX);
	for (uint32_t i = 0; i < r->n; i++) {
		uint64_t key = r->ent[i] & ~(uint64_t)1;
		bool dup = (i && (r->ent[i - 1] & ~(uint64_t)1) == key) ||
			   (i + 1 < r->n && (r->ent[i + 1] & ~(uint64_t)1) == key);
		if (i)
			FUZZ_ASSERT((r->ent[i - 1] & ~(uint64_t)1) <= key);
		int v = nhr_entries_get(r->ent, r->n, key);
		/* a server listed twice (two servers of a backend with one URL) keeps both */
		FUZZ_ASSERT(dup ? (v == 0 || v == 1) : v == (int)(r->ent[i] & 1));
	}
}

/* Keep r in the table as a data node's report, copy it out, parse the copy back. */
static void copy_roundtrip(const struct nhr_report *r)
{
	static const char id[] = "a8u1n3qbnua9zzndae71kjlu6";
	struct nhr_node *n = NULL;
	int rc = nhr_table_put(&table, id, r, 1000000, &n);
	FUZZ_ASSERT(rc == 0 || rc == 1);
	FUZZ_ASSERT(n != NULL);
	struct buf b;
	buf_init(&b, copy, sizeof copy);
	FUZZ_ASSERT(nhr_copy_write(&b, n, 1000000) == 0);
	char bid[ID_LEN + 1], msg[256] = "";
	uint64_t age = 1;
	rc = nhr_copy_parse((const char *)b.data, b.len, toks, NHR_TOKENS, bid, &age, &back, msg,
			    sizeof msg);
	if (rc != 0)
		fprintf(stderr, "copy of an accepted report refused: %s\n", msg);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(!strcmp(bid, id) && age == 0);
	FUZZ_ASSERT(back.n == n->n && back.revision == n->revision &&
		    back.truncated == n->truncated);
	FUZZ_ASSERT(!memcmp(back.ent, n->ent, (size_t)n->n * sizeof n->ent[0]));
	nhr_table_fini(&table); /* fresh for the next input: the kept report is the newest */
	nhr_table_init(&table);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready) {
		nhr_table_init(&table);
		ready = 1;
	}
	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	char msg[256] = "";
	int rc;
	switch (data[0] % 3) {
	case 0:
		rc = nhr_parse(body, len, toks, NHR_TOKENS, &rep, msg, sizeof msg);
		FUZZ_ASSERT(rc <= 0);
		if (rc < 0) {
			FUZZ_ASSERT(msg[0] != '\0');
			break;
		}
		check_entries(&rep);
		copy_roundtrip(&rep);
		break;
	case 1: {
		char id[ID_LEN + 1];
		uint64_t age;
		rc = nhr_copy_parse(body, len, toks, NHR_TOKENS, id, &age, &rep, msg, sizeof msg);
		FUZZ_ASSERT(rc <= 0);
		if (rc < 0) {
			FUZZ_ASSERT(msg[0] != '\0');
			break;
		}
		FUZZ_ASSERT(strlen(id) == ID_LEN);
		check_entries(&rep);
		break;
	}
	default:
		rc = nhr_doc_servers(body, len, toks, DOC_TOKENS, &list);
		FUZZ_ASSERT(rc <= 0);
		if (rc < 0)
			break;
		FUZZ_ASSERT(list.n <= NHR_SERVERS_MAX && list.str_len <= sizeof list.str);
		for (uint32_t i = 0; i < list.n; i++) {
			FUZZ_ASSERT((size_t)list.s[i].be_off + list.s[i].be_len <= list.str_len);
			FUZZ_ASSERT((size_t)list.s[i].url_off + list.s[i].url_len <= list.str_len);
		}
		break;
	}
	return 0;
}
