/* Unit tests for node_health_report.h: the data node's report (writer, caps), its parser on
 * the control node (every refusal, both sides of every cap, every prefix), the table
 * (replacement, order, staleness, eviction), copies between control nodes, and the list of
 * health-checked servers of a routing document. */
#include "base/base_err.h"
#include "node/node_health_report.h"
#include "test.h"

static json_tok toks[NHR_TOKENS];
static char body[NHR_BODY_MAX + 4096];
static struct nhr_report rep;

static struct slice S(const char *s) {
	return slice_from_cstr(s);
}

static void
node_id(int i, char out[ID_LEN + 1])
{
	unsigned char b[16] = {0};
	b[0] = (unsigned char)i;
	b[1] = (unsigned char)(i >> 8);
	b[15] = 7;
	id_from_bytes(b, out);
}

static int parse_str(const char *s, char *msg, size_t cap)
{
	return nhr_parse(s, strlen(s), toks, NHR_TOKENS, &rep, msg, cap);
}

static void write_and_parse(void)
{
	struct buf b;
	struct nhr_writer w;
	buf_init(&b, body, NHR_BODY_MAX);
	REQUIRE(nhr_write_begin(&w, &b, 42) == 0);
	nhr_write_server(&w, S("web"), S("http://10.0.0.1:80"), true);
	nhr_write_server(&w, S("web"), S("http://10.0.0.2:80"), false);
	nhr_write_server(&w, S("we\"ird\\n\xc3\xa9"), S("http://[::1]:8080/a b"), false);
	REQUIRE(nhr_write_end(&w) == 0);
	CHECK_EQ_INT(w.n, 3);
	CHECK(!w.truncated);
	CHECK(memmem(body, b.len, "\"truncated\"", 11) == NULL);
	static const char head[] = "{\"revision\":42,\"servers\":[{\"backend\":\"web\",\"url\":"
				   "\"http://10.0.0.1:80\",\"up\":true},{\"backend\":\"web\"";
	CHECK_EQ_MEM(body, sizeof head - 1, head);
	char msg[160] = "";
	REQUIRE(nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg) == 0);
	CHECK_EQ_INT(rep.revision, 42);
	CHECK_EQ_INT(rep.n, 3);
	CHECK(!rep.truncated);
	CHECK_EQ_INT(nhr_entries_get(rep.ent, rep.n, nhr_key(S("web"), S("http://10.0.0.1:80"))),
		     1);
	CHECK_EQ_INT(nhr_entries_get(rep.ent, rep.n, nhr_key(S("web"), S("http://10.0.0.2:80"))),
		     0);
	CHECK_EQ_INT(nhr_entries_get(rep.ent, rep.n,
				     nhr_key(S("we\"ird\\n\xc3\xa9"), S("http://[::1]:8080/a b"))),
		     0);
	CHECK_EQ_INT(nhr_entries_get(rep.ent, rep.n, nhr_key(S("web"), S("http://10.0.0.3:80"))),
		     -ERR_NOTFOUND);
	CHECK_EQ_INT(nhr_entries_get(rep.ent, rep.n, nhr_key(S("we"), S("bhttp://10.0.0.1:80"))),
		     -ERR_NOTFOUND); /* the length prefix keeps (backend, url) apart */
	CHECK(nhr_key(S("a"), S("b")) != 0 && (nhr_key(S("a"), S("b")) & 1) == 0);
	/* An empty report parses too. */
	REQUIRE(nhr_write_begin(&w, &b, 0) == 0);
	REQUIRE(nhr_write_end(&w) == 0);
	CHECK_EQ_MEM(body, b.len, "{\"revision\":0,\"servers\":[]}");
	CHECK_EQ_INT(nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg), 0);
	CHECK_EQ_INT(rep.n, 0);
	/* Too small a buffer is an error, not a crash. */
	char tiny[32];
	buf_init(&b, tiny, sizeof tiny);
	CHECK_EQ_INT(nhr_write_begin(&w, &b, 1), -ERR_BUF_FULL);
	nhr_write_server(&w, S("a"), S("b"), true);
	CHECK_EQ_INT(nhr_write_end(&w), -ERR_BUF_FULL);
}

/* NHR_SERVERS_MAX servers fit; the next is left out and the report says so. */
static void writer_caps(void)
{
	struct buf b;
	struct nhr_writer w;
	char url[64];
	buf_init(&b, body, NHR_BODY_MAX);
	nhr_write_begin(&w, &b, 7);
	for (unsigned i = 0; i < NHR_SERVERS_MAX; i++) {
		snprintf(url, sizeof url, "http://10.0.%u.%u:80", i / 256, i % 256);
		nhr_write_server(&w, S("b"), S(url), i % 2);
	}
	CHECK(!w.truncated);
	CHECK_EQ_INT(w.n, NHR_SERVERS_MAX);
	nhr_write_server(&w, S("b"), S("http://one-more"), true);
	CHECK(w.truncated);
	CHECK_EQ_INT(w.n, NHR_SERVERS_MAX);
	REQUIRE(nhr_write_end(&w) == 0);
	char msg[160] = "";
	REQUIRE(nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg) == 0);
	CHECK_EQ_INT(rep.n, NHR_SERVERS_MAX);
	CHECK(rep.truncated);
	CHECK_EQ_INT(nhr_entries_get(rep.ent, rep.n, nhr_key(S("b"), S("http://10.0.3.255:80"))),
		     1);

	/* URLs: NHR_URL_MAX bytes go, one more is left out; an empty name is left out. */
	static char big[NHR_URL_MAX + 2];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	nhr_write_begin(&w, &b, 7);
	nhr_write_server(&w, S("b"), (struct slice){big, NHR_URL_MAX}, true);
	CHECK(!w.truncated);
	nhr_write_server(&w, S("b"), (struct slice){big, NHR_URL_MAX + 1}, true);
	CHECK(w.truncated);
	nhr_write_server(&w, S(""), S("http://x"), true);
	CHECK_EQ_INT(w.n, 1);
	REQUIRE(nhr_write_end(&w) == 0);
	CHECK_EQ_INT(nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg), 0);

	/* The body: long URLs stop at NHR_BODY_MAX, never over it, and still parse. */
	nhr_write_begin(&w, &b, 7);
	for (unsigned i = 0; i < 200; i++) {
		memcpy(big, &i, sizeof i > 3 ? 3 : sizeof i);
		for (int k = 0; k < 3; k++)
			big[k] = (char)('a' + (i >> (4 * k) & 15));
		nhr_write_server(&w, S("b"), (struct slice){big, 1000}, true);
	}
	CHECK(w.truncated);
	CHECK(w.n > 100 && w.n < 200);
	REQUIRE(nhr_write_end(&w) == 0);
	CHECK(b.len <= NHR_BODY_MAX);
	CHECK_EQ_INT(nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg), 0);
	CHECK_EQ_INT(rep.n, w.n);
	CHECK(rep.truncated);
}

static void parse_refusals(void)
{
	static const char *const bad[] = {
		"",
		" ",
		"[]",
		"null",
		"{",
		"{}",
		"{\"servers\":[]}",
		"{\"revision\":-1,\"servers\":[]}",
		"{\"revision\":1.5,\"servers\":[]}",
		"{\"revision\":\"1\",\"servers\":[]}",
		"{\"revision\":1}",
		"{\"revision\":1,\"servers\":{}}",
		"{\"revision\":1,\"servers\":[1]}",
		"{\"revision\":1,\"servers\":[{}]}",
		"{\"revision\":1,\"servers\":[{\"url\":\"u\",\"up\":true}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"\",\"url\":\"u\",\"up\":true}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":7,\"url\":\"u\",\"up\":true}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"up\":true}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"\",\"up\":true}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"u\"}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"u\",\"up\":1}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"u\",\"up\":\"true\"}]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"u\",\"up\":null}]}",
		"{\"revision\":1,\"servers\":[],\"truncated\":1}",
		"{\"revision\":1,\"servers\":[]} x",
		"{\"revision\":1,\"servers\":[],\"servers\":[]}",
		"{\"revision\":1,\"servers\":[{\"backend\":\"b\xff\",\"url\":\"u\",\"up\":true}]}",
	};
	char msg[160];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = 0;
		int rc = parse_str(bad[i], msg, sizeof msg);
		if (rc != -ERR_INVAL)
			TEST_FAIL_("case %zu (%s): %d, want -ERR_INVAL", i, bad[i], rc);
		CHECK(msg[0] != 0);
	}
	/* Names: 255 bytes go, 256 do not; URLs: 2048 and 2049. */
	static char doc[8192];
	char name[300];
	memset(name, 'n', sizeof name);
	snprintf(
		doc, sizeof doc,
		"{\"revision\":1,\"servers\":[{\"backend\":\"%.255s\",\"url\":\"u\",\"up\":true}]}",
		name);
	CHECK_EQ_INT(parse_str(doc, msg, sizeof msg), 0);
	snprintf(
		doc, sizeof doc,
		"{\"revision\":1,\"servers\":[{\"backend\":\"%.256s\",\"url\":\"u\",\"up\":true}]}",
		name);
	CHECK_EQ_INT(parse_str(doc, msg, sizeof msg), -ERR_INVAL);
	static char url[NHR_URL_MAX + 2];
	memset(url, 'u', sizeof url - 1);
	url[NHR_URL_MAX] = 0;
	snprintf(doc, sizeof doc,
		 "{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"%s\",\"up\":true}]}",
		 url);
	CHECK_EQ_INT(parse_str(doc, msg, sizeof msg), 0);
	url[NHR_URL_MAX] = 'u';
	snprintf(doc, sizeof doc,
		 "{\"revision\":1,\"servers\":[{\"backend\":\"b\",\"url\":\"%s\",\"up\":true}]}",
		 url);
	CHECK_EQ_INT(parse_str(doc, msg, sizeof msg), -ERR_INVAL);
	/* Unknown keys are ignored (a newer data node may say more). */
	CHECK_EQ_INT(parse_str("{\"revision\":3,\"servers\":[{\"backend\":\"b\",\"url\":\"u\","
			       "\"up\":false,\"why\":\"x\"}],\"more\":{}}",
			       msg, sizeof msg),
		     0);
	CHECK_EQ_INT(rep.revision, 3);
}

/* Both sides of the caps: servers, body bytes, JSON values. */
static void parse_caps(void)
{
	struct buf b;
	char msg[160];
	buf_init(&b, body, sizeof body);
	for (unsigned extra = 0; extra < 2; extra++) {
		buf_reset(&b);
		buf_append_cstr(&b, "{\"revision\":1,\"servers\":[");
		for (unsigned i = 0; i < NHR_SERVERS_MAX + extra; i++)
			buf_printf(&b, "%s{\"backend\":\"b\",\"url\":\"u%u\",\"up\":true}",
				   i ? "," : "", i);
		buf_append_cstr(&b, "]}");
		msg[0] = 0;
		int rc = nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg);
		CHECK_EQ_INT(rc, extra ? -ERR_TOO_LARGE : 0);
		if (extra)
			CHECK(strstr(msg, "servers") != NULL);
	}
	/* Body bytes: NHR_BODY_MAX parses (padding in an unknown key), one more does not. */
	for (unsigned extra = 0; extra < 2; extra++) {
		buf_reset(&b);
		buf_append_cstr(&b, "{\"revision\":1,\"servers\":[],\"pad\":\"");
		while (b.len < NHR_BODY_MAX + extra - 2)
			buf_append_byte(&b, 'p');
		buf_append_cstr(&b, "\"}");
		CHECK_EQ_INT(b.len, NHR_BODY_MAX + extra);
		int rc = nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg);
		CHECK_EQ_INT(rc, extra ? -ERR_TOO_LARGE : 0);
	}
	/* Many small values: too many JSON values, refused as too large. */
	buf_reset(&b);
	buf_append_cstr(&b, "{\"revision\":1,\"servers\":[],\"pad\":[");
	for (unsigned i = 0; i < NHR_TOKENS; i++)
		buf_append_cstr(&b, i ? ",0" : "0");
	buf_append_cstr(&b, "]}");
	CHECK_EQ_INT(nhr_parse(body, b.len, toks, NHR_TOKENS, &rep, msg, sizeof msg),
		     -ERR_TOO_LARGE);
}

/* Every proper prefix of a valid report is refused cleanly (and the whole is taken). */
static void parse_prefixes(void)
{
	const char *ok = "{\"revision\":9,\"servers\":[{\"backend\":\"b\",\"url\":\"http://a:1\","
			 "\"up\":true},{\"backend\":\"b\",\"url\":\"http://a:2\",\"up\":false}],"
			 "\"truncated\":true}";
	size_t n = strlen(ok);
	char msg[160];
	for (size_t i = 0; i < n; i++) {
		char *p = malloc(i ? i : 1); /* exact size: ASan sees any read past it */
		memcpy(p, ok, i);
		int rc = nhr_parse(p, i, toks, NHR_TOKENS, &rep, msg, sizeof msg);
		if (rc != -ERR_INVAL)
			TEST_FAIL_("prefix %zu: %d", i, rc);
		free(p);
	}
	CHECK_EQ_INT(parse_str(ok, msg, sizeof msg), 0);
	CHECK(rep.truncated);
	CHECK_EQ_INT(rep.n, 2);
}

static void table_staleness(void)
{
	static struct nhr_table t;
	char id1[ID_LEN + 1], id2[ID_LEN + 1], msg[160];
	node_id(1, id1);
	node_id(2, id2);
	nhr_table_init(&t);
	uint64_t ka = nhr_key(S("b"), S("http://a")), kb = nhr_key(S("b"), S("http://b"));
	REQUIRE(parse_str("{\"revision\":5,\"servers\":[{\"backend\":\"b\",\"url\":\"http://a\","
			  "\"up\":true},{\"backend\":\"b\",\"url\":\"http://b\",\"up\":false}]}",
			  msg, sizeof msg) == 0);
	struct nhr_node *n = NULL;
	CHECK_EQ_INT(nhr_table_put(&t, "not-an-id", &rep, 1000, &n), -ERR_INVAL);
	REQUIRE(nhr_table_put(&t, id1, &rep, 1000, &n) == 0);
	CHECK(n == nhr_table_get(&t, id1));
	CHECK(nhr_table_get(&t, id2) == NULL);
	CHECK_EQ_INT(nhr_node_state(n, 1000, ka), NHR_UP);
	CHECK_EQ_INT(nhr_node_state(n, 1000, kb), NHR_DOWN);
	CHECK_EQ_INT(nhr_node_state(n, 1000, nhr_key(S("b"), S("http://c"))), NHR_NONE);
	CHECK_EQ_INT(nhr_node_state(NULL, 1000, ka), NHR_NONE);
	/* Stale after NHR_STALE_MS, not at it. */
	CHECK_EQ_INT(nhr_node_state(n, 1000 + NHR_STALE_MS, ka), NHR_UP);
	CHECK_EQ_INT(nhr_node_state(n, 1000 + NHR_STALE_MS + 1, ka), NHR_STALE);
	CHECK_EQ_INT(nhr_node_state(n, 1000 + NHR_STALE_MS + 1, kb), NHR_STALE);
	CHECK_EQ_INT(nhr_node_age(n, 500), 0);
	/* A newer report replaces it; an older one (a late copy) does not. */
	REQUIRE(parse_str("{\"revision\":6,\"servers\":[{\"backend\":\"b\",\"url\":\"http://a\","
			  "\"up\":false}]}",
			  msg, sizeof msg) == 0);
	CHECK_EQ_INT(nhr_table_put(&t, id1, &rep, 2000, &n), 0);
	CHECK_EQ_INT(nhr_node_state(n, 2000, ka), NHR_DOWN);
	CHECK_EQ_INT(nhr_node_state(n, 2000, kb), NHR_NONE);
	REQUIRE(parse_str("{\"revision\":4,\"servers\":[]}", msg, sizeof msg) == 0);
	CHECK_EQ_INT(nhr_table_put(&t, id1, &rep, 1500, &n), 1);
	CHECK_EQ_INT(n->revision, 6);
	nhr_table_fini(&t);
}

/* NHR_NODES_MAX nodes are kept; one more takes the slot of the oldest report. */
static void table_bound(void)
{
	static struct nhr_table t;
	char id[ID_LEN + 1], msg[160];
	nhr_table_init(&t);
	REQUIRE(parse_str("{\"revision\":1,\"servers\":[]}", msg, sizeof msg) == 0);
	struct nhr_node *n;
	for (int i = 0; i < (int)NHR_NODES_MAX; i++) {
		node_id(i, id);
		REQUIRE(nhr_table_put(&t, id, &rep, 10000 + (uint64_t)(i == 7 ? 0 : 100 + i), &n) ==
			0);
	}
	CHECK_EQ_INT(t.evicted, 0);
	node_id(1000, id);
	REQUIRE(nhr_table_put(&t, id, &rep, 20000, &n) == 0);
	CHECK_EQ_INT(t.evicted, 1);
	node_id(7, id);
	CHECK(nhr_table_get(&t, id) == NULL); /* the oldest went */
	node_id(8, id);
	CHECK(nhr_table_get(&t, id) != NULL);
	node_id(1000, id);
	CHECK(nhr_table_get(&t, id) != NULL);
	nhr_table_fini(&t);
}

static void copies(void)
{
	static struct nhr_table t;
	static struct nhr_report r2;
	char id[ID_LEN + 1], got[ID_LEN + 1], msg[160];
	static char cbuf[NHR_COPY_MAX];
	node_id(3, id);
	nhr_table_init(&t);
	REQUIRE(parse_str(
			"{\"revision\":5,\"truncated\":true,\"servers\":[{\"backend\":\"b\","
			"\"url\":\"http://a\",\"up\":true},{\"backend\":\"b\",\"url\":\"http://b\","
			"\"up\":false}]}",
			msg, sizeof msg) == 0);
	struct nhr_node *n;
	REQUIRE(nhr_table_put(&t, id, &rep, 1000, &n) == 0);
	struct buf b;
	buf_init(&b, cbuf, sizeof cbuf);
	REQUIRE(nhr_copy_write(&b, n, 4000) == 0);
	uint64_t age = 0;
	REQUIRE(nhr_copy_parse(cbuf, b.len, toks, NHR_TOKENS, got, &age, &r2, msg, sizeof msg) ==
		0);
	CHECK_EQ_STR(got, id);
	CHECK_EQ_INT(age, 3000);
	CHECK_EQ_INT(r2.revision, 5);
	CHECK(r2.truncated);
	CHECK_EQ_INT(r2.n, 2);
	CHECK(memcmp(r2.ent, rep.ent, 2 * sizeof rep.ent[0]) == 0);
	/* A full report's copy fits NHR_COPY_MAX. */
	n->n = NHR_SERVERS_MAX;
	CHECK_EQ_INT(nhr_copy_write(&b, n, 4000), 0);
	CHECK(b.len <= NHR_COPY_MAX);
	CHECK_EQ_INT(nhr_copy_parse(cbuf, b.len, toks, NHR_TOKENS, got, &age, &r2, msg, sizeof msg),
		     0);
	CHECK_EQ_INT(r2.n, NHR_SERVERS_MAX);
	char small[64];
	buf_init(&b, small, sizeof small);
	CHECK_EQ_INT(nhr_copy_write(&b, n, 4000), -ERR_BUF_FULL);
	nhr_table_fini(&t);

	char doc[512];
	const char *bad[] = {
		"{\"node\":\"%s\",\"ageMs\":1,\"revision\":1,\"entries\":\"0123\"}",
		"{\"node\":\"%s\",\"ageMs\":1,\"revision\":1,\"entries\":\"0123456789ABCDEF\"}",
		"{\"node\":\"%s\",\"ageMs\":1,\"revision\":1,\"entries\":\"0123456789abcdeg\"}",
		"{\"node\":\"%s\",\"ageMs\":1,\"revision\":1,\"entries\":7}",
		"{\"node\":\"%s\",\"ageMs\":1,\"revision\":1}",
		"{\"node\":\"%s\",\"ageMs\":-1,\"revision\":1,\"entries\":\"\"}",
		"{\"node\":\"%s\",\"ageMs\":86400001,\"revision\":1,\"entries\":\"\"}",
		"{\"node\":\"%s\",\"revision\":1,\"entries\":\"\"}",
		"{\"node\":\"%.5s\",\"ageMs\":1,\"revision\":1,\"entries\":\"\"}",
		"{\"nodes\":\"%s\",\"ageMs\":1,\"revision\":1,\"entries\":\"\"}",
		"{\"node\":\"%s\",\"ageMs\":1,\"entries\":\"\"}",
		"[\"%s\"]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(doc, sizeof doc, bad[i], id);
		msg[0] = 0;
		int rc = nhr_copy_parse(doc, strlen(doc), toks, NHR_TOKENS, got, &age, &r2, msg,
					sizeof msg);
		if (rc != -ERR_INVAL)
			TEST_FAIL_("copy case %zu: %d", i, rc);
		CHECK(msg[0] != 0);
	}
	snprintf(doc, sizeof doc, "{\"node\":\"%s\",\"ageMs\":0,\"revision\":1,\"entries\":\"\"}",
		 id);
	CHECK_EQ_INT(
		nhr_copy_parse(doc, strlen(doc), toks, NHR_TOKENS, got, &age, &r2, msg, sizeof msg),
		0);
	/* One entry over the cap. */
	static char over[NHR_COPY_MAX + 64];
	buf_init(&b, over, sizeof over);
	buf_printf(&b, "{\"node\":\"%s\",\"ageMs\":0,\"revision\":1,\"entries\":\"", id);
	for (unsigned i = 0; i < NHR_SERVERS_MAX + 1; i++)
		buf_append_cstr(&b, "0000000000000010");
	buf_append_cstr(&b, "\"}");
	CHECK_EQ_INT(nhr_copy_parse(over, b.len, toks, NHR_TOKENS, got, &age, &r2, msg, sizeof msg),
		     -ERR_TOO_LARGE);
}

static void doc_servers(void)
{
	static struct nhr_srvlist l;
	const char *doc =
		"{\"version\":1,\"revision\":3,\"backends\":{"
		"\"plain\":{\"servers\":{\"s1\":{\"url\":\"http://p:1\"}}},"
		"\"web\":{\"healthCheck\":{\"path\":\"/h\",\"interval\":\"1s\"},\"servers\":{"
		"\"s1\":{\"url\":\"http://a:1\",\"weight\":1},\"s2\":{\"url\":\"http://b:2\"}}},"
		"\"tcp\":{\"healthCheck\":{\"path\":\"/h\",\"scheme\":\"tcp\"},\"servers\":{"
		"\"s1\":{\"url\":\"http://t:1\"}}},"
		"\"nopath\":{\"healthCheck\":{\"path\":\"\"},\"servers\":{\"s1\":{\"url\":\"http://"
		"n:1\"}}},"
		"\"tls\":{\"healthCheck\":{\"path\":\"/\",\"scheme\":\"HTTPS\"},\"servers\":{"
		"\"s1\":{\"url\":\"https://s:1\"}}}}}";
	REQUIRE(nhr_doc_servers(doc, strlen(doc), toks, NHR_TOKENS, &l) == 0);
	REQUIRE(l.n == 3);
	CHECK(!l.truncated);
	CHECK_EQ_MEM(nhr_srv_backend(&l, 0).p, nhr_srv_backend(&l, 0).len, "web");
	CHECK_EQ_MEM(nhr_srv_url(&l, 0).p, nhr_srv_url(&l, 0).len, "http://a:1");
	CHECK_EQ_MEM(nhr_srv_url(&l, 1).p, nhr_srv_url(&l, 1).len, "http://b:2");
	CHECK_EQ_MEM(nhr_srv_backend(&l, 2).p, nhr_srv_backend(&l, 2).len, "tls");
	CHECK(l.s[0].be_off == l.s[1].be_off);
	CHECK_EQ_INT(nhr_doc_servers("{}", 2, toks, NHR_TOKENS, &l), 0);
	CHECK_EQ_INT(l.n, 0);
	CHECK(nhr_doc_servers("[", 1, toks, NHR_TOKENS, &l) < 0);
	CHECK_EQ_INT(nhr_doc_servers("[]", 2, toks, NHR_TOKENS, &l), -ERR_INVAL);
	CHECK_EQ_INT(nhr_doc_servers("{\"backends\":[]}", 15, toks, NHR_TOKENS, &l), -ERR_INVAL);
}

TEST_MAIN(write_and_parse, writer_caps, parse_refusals, parse_caps, parse_prefixes, table_staleness,
	  table_bound, copies, doc_servers)
