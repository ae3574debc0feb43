/* Unit tests for node_web.h's pure builders: secret redaction of routing documents, the
 * Traefik v1 /api/providers shape and its selectors, control-plane metrics text, /health and
 * Go duration text. */
#include "base/base_err.h"
#include "json/json.h"
#include "json/json_write.h"
#include "node/node_web.h"
#include "test.h"

#define NTOK 1024

static char scratch[NODE_WEB_STR_MAX + 1];

/* Redact doc (a C string) into out; returns the writer's result. */
static int redact(const char *doc, char *out, size_t cap)
{
	json_tok toks[NTOK];
	struct json_doc d;
	if (json_parse(&d, doc, strlen(doc), toks, NTOK) < 0)
		return -1000;
	struct buf b;
	buf_init(&b, out, cap - 1);
	struct json_writer w;
	json_w_init(&w, &b);
	int rc = node_web_redact(&w, &d, JSON_ROOT, scratch, sizeof scratch);
	if (rc == 0)
		rc = json_w_finish(&w);
	out[b.len] = 0;
	return rc;
}

static bool parses(const char *s)
{
	json_tok toks[NTOK];
	struct json_doc d;
	return json_parse(&d, s, strlen(s), toks, NTOK) > 0;
}

static void redact_secrets(void)
{
	static char out[16384];
	const char *doc =
		"{\"tls\":[{\"certificate\":{\"certFile\":\"-----BEGIN CERTIFICATE-----\\nMIIB\\n"
		"-----END CERTIFICATE-----\\n\",\"keyFile\":\"-----BEGIN EC PRIVATE KEY-----\\nMHc"
		"\\n-----END EC PRIVATE KEY-----\\n\"}}],"
		"\"frontends\":{\"web\":{\"backend\":\"web\",\"priority\":7,\"passHostHeader\":"
		"true,"
		"\"routes\":{\"r1\":{\"rule\":\"Host:a.example;PathPrefix:/x\"}},"
		"\"auth\":{\"basic\":{\"users\":[\"admin:$apr1$xyz\"]}},"
		"\"headers\":{\"customRequestHeaders\":{\"AUTHORIZATION\":\"Bearer tok-123\","
		"\"X-Ok\":\"fine\"},\"customResponseHeaders\":{\"X-Pasted\":\"-----BEGIN "
		"PRIVATE\\u0020"
		"KEY----- abc\",\"X-Lower\":\"private key\"}}}},"
		"\"backends\":{\"web\":{\"servers\":{\"s1\":{\"url\":\"http://"
		"10.0.0.1:80\",\"weight\":2}},"
		"\"Password\":\"hunter2\",\"x\":null,\"y\":false,\"z\":-1.5e3}}}";
	REQUIRE(redact(doc, out, sizeof out) == 0);
	CHECK(parses(out));
	CHECK(strstr(out, "PRIVATE") == NULL);
	CHECK(strstr(out, "private key") == NULL); /* matched case-insensitively */
	CHECK(strstr(out, "MHc") == NULL);
	CHECK(strstr(out, "tok-123") == NULL);
	CHECK(strstr(out, "apr1") == NULL);
	CHECK(strstr(out, "hunter2") == NULL);
	CHECK(strstr(out, "\"keyFile\":\"(redacted)\"") != NULL);
	CHECK(strstr(out, "\"users\":\"(redacted)\"") != NULL);
	CHECK(strstr(out, "\"AUTHORIZATION\":\"(redacted)\"") != NULL);
	CHECK(strstr(out, "\"certFile\":\"(PEM, ") != NULL);
	/* everything else passes through unchanged */
	CHECK(strstr(out, "\"rule\":\"Host:a.example;PathPrefix:/x\"") != NULL);
	CHECK(strstr(out, "\"X-Ok\":\"fine\"") != NULL);
	CHECK(strstr(out, "\"url\":\"http://10.0.0.1:80\",\"weight\":2") != NULL);
	CHECK(strstr(out, "\"priority\":7,\"passHostHeader\":true") != NULL);
	CHECK(strstr(out, "\"x\":null,\"y\":false,\"z\":-1.5e3") != NULL);
}

static void redact_long_and_escaped(void)
{
	/* a string over NODE_WEB_STR_MAX is summarised (whatever it holds) */
	static char doc[NODE_WEB_STR_MAX + 64], out[4096];
	size_t n = 0;
	n += (size_t)snprintf(doc, sizeof doc, "{\"a\":\"");
	for (int i = 0; i < NODE_WEB_STR_MAX + 10; i++)
		doc[n++] = 'x';
	snprintf(doc + n, sizeof doc - n, "\",\"b\":\"q\\\"\\n\\u00e9\"}");
	REQUIRE(redact(doc, out, sizeof out) == 0);
	char want[64];
	snprintf(want, sizeof want, "\"a\":\"(%d bytes)\"", NODE_WEB_STR_MAX + 10);
	CHECK(strstr(out, want) != NULL);
	CHECK(strstr(out, "\"b\":\"q\\\"\\n\xc3\xa9\"") != NULL); /* re-escaped, UTF-8 kept */
	CHECK(parses(out));
	/* a bounded writer: too small an output is an error, never an overflow */
	char small[32];
	CHECK(redact("{\"frontends\":{\"abcdefghijkl\":{\"backend\":\"mnopqrstuvwx\"}}}", small,
		     sizeof small) < 0);
}

static int providers(const char *doc, const char *only, const char *section, const char *name,
		     char *out, size_t cap)
{
	json_tok toks[NTOK];
	struct json_doc d;
	if (doc && json_parse(&d, doc, strlen(doc), toks, NTOK) < 0)
		return -1000;
	struct buf b;
	buf_init(&b, out, cap - 1);
	struct json_writer w;
	json_w_init(&w, &b);
	int rc = node_web_providers(&w, doc ? &d : NULL, "file", only, section, name, scratch,
				    sizeof scratch);
	if (rc == 0)
		rc = json_w_finish(&w);
	out[b.len] = 0;
	return rc;
}

static void providers_shape(void)
{
	static char out[8192];
	const char *doc =
		"{\"version\":1,\"revision\":4,\"entryPoints\":{\"http\":{\"address\":\":80\"}},"
		"\"frontends\":{\"f1\":{\"backend\":\"b1\",\"routes\":{\"r\":{\"rule\":\"Path:/"
		"\"}}}},"
		"\"backends\":{\"b1\":{\"servers\":{\"s\":{\"url\":\"http://h:1\"}}}},"
		"\"tls\":[{\"certificate\":{\"keyFile\":\"-----BEGIN RSA PRIVATE KEY-----\"}}]}";
	REQUIRE(providers(doc, NULL, NULL, NULL, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "{\"file\":{\"frontends\":{\"f1\":{\"backend\":\"b1\",\"routes\":{\"r\":"
			  "{\"rule\":\"Path:/\"}}}},\"backends\":{\"b1\":{\"servers\":{\"s\":{"
			  "\"url\":\"http://h:1\"}}}}}}");
	REQUIRE(providers(doc, "file", NULL, NULL, out, sizeof out) == 0);
	CHECK(strncmp(out, "{\"frontends\":{\"f1\"", 18) == 0);
	REQUIRE(providers(doc, "file", "backends", NULL, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "{\"b1\":{\"servers\":{\"s\":{\"url\":\"http://h:1\"}}}}");
	REQUIRE(providers(doc, "file", "frontends", "f1", out, sizeof out) == 0);
	CHECK_EQ_STR(out, "{\"backend\":\"b1\",\"routes\":{\"r\":{\"rule\":\"Path:/\"}}}");
	CHECK_EQ_INT(providers(doc, "file", "frontends", "nope", out, sizeof out), -ERR_NOTFOUND);
	CHECK_EQ_INT(providers(doc, "file", "tls", NULL, out, sizeof out), -ERR_NOTFOUND);
	CHECK_EQ_INT(providers(doc, "consul", NULL, NULL, out, sizeof out), -ERR_NOTFOUND);
	/* a document without frontends or backends: empty objects */
	REQUIRE(providers("{\"version\":1,\"revision\":1}", NULL, NULL, NULL, out, sizeof out) ==
		0);
	CHECK_EQ_STR(out, "{\"file\":{\"frontends\":{},\"backends\":{}}}");
	/* nothing deployed yet */
	REQUIRE(providers(NULL, NULL, NULL, NULL, out, sizeof out) == 0);
	CHECK_EQ_STR(out, "{}");
}

static void metrics_text(void)
{
	struct node_web_cp cp;
	memset(&cp, 0, sizeof cp);
	cp.term = 5;
	cp.commit = 42;
	cp.applied = 41;
	cp.voters = 3;
	cp.leader = true;
	cp.nodes[0][0] = 3;
	cp.nodes[1][0] = 2;
	cp.nodes[1][1] = 1;
	cp.routing_revision = 9;
	cp.routing_changes = 4;
	cp.routing_changed_at = 1700000000;
	cp.api_status[2] = 17;
	cp.cert_earliest = 1800000000;
	cp.cert_own = 1800000100;
	cp.cert_renewals = 2;
	cp.cert_renew_failures = 1;
	static char text[8192];
	struct buf b;
	buf_init(&b, text, sizeof text - 1);
	REQUIRE(node_web_metrics_text(&b, &cp) == 0);
	text[b.len] = 0;
	CHECK(strstr(text, "\ntraefikee_raft_term 5\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_raft_commit_index 42\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_raft_is_leader 1\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_nodes{role=\"control\",status=\"ready\"} 3\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_nodes{role=\"data\",status=\"down\"} 1\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_routing_revision 9\n") != NULL);
	CHECK(strstr(text, "\ntraefik_config_reloads_total 4\n") != NULL);
	CHECK(strstr(text, "\ntraefik_config_last_reload_success 1700000000\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_api_responses_total{class=\"2xx\"} 17\n") != NULL);
	CHECK(strstr(text, "# TYPE traefik_config_reloads_total counter\n") != NULL);
	CHECK(strstr(text,
		     "\ntraefikee_cluster_certificate_expiry_earliest_seconds 1800000000\n") !=
	      NULL);
	CHECK(strstr(text, "\ntraefikee_certificate_expiry_seconds 1800000100\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_certificate_renewals_total 2\n") != NULL);
	CHECK(strstr(text, "\ntraefikee_certificate_renewal_failures_total 1\n") != NULL);
	CHECK(strstr(text, "# TYPE traefikee_certificate_renewals_total counter\n") != NULL);
	/* every line is a comment or "name[{labels}] value" */
	for (char *l = text; *l; l = strchr(l, '\n') + 1) {
		CHECK(*l == '#' || (*l >= 'a' && *l <= 'z'));
		if (!strchr(l, '\n'))
			break;
	}
	char small[100];
	buf_init(&b, small, sizeof small);
	CHECK_EQ_INT(node_web_metrics_text(&b, &cp), -ERR_BUF_FULL);
}

static void duration_text(void)
{
	char s[48];
	static const struct {
		int64_t ms;
		const char *want;
	} v[] = {
		{0, "0s"},
		{-5, "0s"},
		{250, "250ms"},
		{1000, "1s"},
		{1500, "1.5s"},
		{1234, "1.234s"},
		{61000, "1m1s"},
		{3600000, "1h0m0s"},
		{3723500, "1h2m3.5s"},
		{90061001, "25h1m1.001s"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		node_web_duration(s, sizeof s, v[i].ms);
		CHECK_EQ_STR(s, v[i].want);
	}
}

static void health_json(void)
{
	char out[512];
	struct buf b;
	buf_init(&b, out, sizeof out - 1);
	struct json_writer w;
	json_w_init(&w, &b);
	/* 2023-11-14 22:13:20.250 UTC, up for 61.5 s */
	REQUIRE(node_web_health(&w, 4242, 1700000000250 - 61500, 1700000000250, 12) == 0);
	REQUIRE(json_w_finish(&w) == 0);
	out[b.len] = 0;
	CHECK(parses(out));
	CHECK(strstr(out, "\"pid\":4242") != NULL);
	CHECK(strstr(out, "\"uptime\":\"1m1.5s\"") != NULL);
	CHECK(strstr(out, "\"uptime_sec\":61.5") != NULL);
	CHECK(strstr(out, "\"time\":\"2023-11-14 22:13:20.250 +0000 UTC\"") != NULL);
	CHECK(strstr(out, "\"unixtime\":1700000000") != NULL);
	CHECK(strstr(out, "\"total_count\":12") != NULL);
}

static void dashboard_page(void)
{
	const char *p = node_web_dashboard_html;
	CHECK(strncmp(p, "<!DOCTYPE html>", 15) == 0);
	CHECK(strlen(p) < 64 * 1024); /* well under the API's max_resp */
	CHECK(strstr(p, "http://") == NULL && strstr(p, "https://") == NULL); /* air-gapped */
	CHECK(strstr(p, "innerHTML") == NULL); /* data goes through textContent only */
	CHECK(strstr(p, "../api/providers") != NULL);
	CHECK(strstr(p, "setInterval(refresh") != NULL);
}

TEST_MAIN(redact_secrets, redact_long_and_escaped, providers_shape, metrics_text, duration_text,
	  health_json, dashboard_page)
