/* Unit tests for the file provider: the JSON routing file (validation with line and key, the
 * compact rewrite), the Traefik v1 TOML subset (tables, arrays of tables, strings, arrays,
 * errors with lines) and the inotify watcher on a real loop in a mkdtemp directory (removed at
 * the end): editors' rename-replace, in-place writes, invalid files keeping the last good
 * document, deletion and re-creation, watch=false, the file size cap.
 */
#include "base/base_err.h"
#include "base/base_time.h"
#include "json/json.h"
#include "loop/loop.h"
#include "provider/provider.h"
#include "provider/provider_file.h"
#include "provider/provider_kv.h"
#include "test.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

/* Helpers --------------------------------------------------------------------------------- */

struct reports {
	int n;
	char keys[32][160];
	char msgs[32][384];
};

static void collect(void *ctx, enum log_level level, const char *key, const char *msg)
{
	struct reports *r = ctx;
	if (r->n < 32) {
		snprintf(r->keys[r->n], sizeof r->keys[0], "%s", key);
		snprintf(r->msgs[r->n], sizeof r->msgs[0], "%s", msg);
	}
	r->n++;
}

static bool reported(const struct reports *r, const char *key, const char *needle)
{
	for (int i = 0; i < r->n && i < 32; i++)
		if ((!key || strcmp(r->keys[i], key) == 0) &&
		    (!needle || strstr(r->msgs[i], needle)))
			return true;
	return false;
}

static char outmem[1 << 18];
static json_tok toks[8192];
static char scratch[1 << 18];
static struct provider_kv kvs[2048];

static int from_json(const char *text, struct reports *r)
{
	struct provider_diag d;
	struct buf out;
	memset(r, 0, sizeof *r);
	provider_diag_init(&d, "file", collect, r);
	buf_init(&out, outmem, sizeof outmem - 1);
	int rc = provider_file_json(slice_from_cstr(text), toks, 8192, scratch, sizeof scratch,
				    &out, &d);
	outmem[out.len] = 0;
	return rc;
}

static int from_toml(const char *text, struct reports *r)
{
	struct provider_diag d;
	struct buf out;
	memset(r, 0, sizeof *r);
	provider_diag_init(&d, "file", collect, r);
	int n = provider_file_toml(slice_from_cstr(text), kvs, 2048, scratch, sizeof scratch, &d);
	if (n < 0)
		return n;
	provider_kv_sort(kvs, (size_t)n);
	buf_init(&out, outmem, sizeof outmem - 1);
	int rc = provider_kv_translate(kvs, (size_t)n, &out, &d);
	outmem[out.len] = 0;
	return rc;
}

static char dir[64];

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text)
{
	char p[128];
	path_of(p, sizeof p, name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Editors: write a temporary file, then rename it over the target. */
static void replace_file(const char *name, const char *text)
{
	char tmp[128], p[128];
	write_file(".tmp-edit", text);
	path_of(tmp, sizeof tmp, ".tmp-edit");
	path_of(p, sizeof p, name);
	rename(tmp, p);
}

static bool make_dir(void)
{
	snprintf(dir, sizeof dir, "/tmp/tee-file-XXXXXX");
	return mkdtemp(dir) != NULL;
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static const char good_json[] =
	"{\n"
	"  \"frontends\": {\n"
	"    \"web\": { \"backend\": \"web\", \"entryPoints\": [\"http\"],\n"
	"             \"routes\": { \"r1\": { \"rule\": \"Host:www.example.com\" } },\n"
	"             \"headers\": { \"customRequestHeaders\": { \"X-Env\": \"prod\\u00e9\" } } }\n"
	"  },\n"
	"  \"backends\": {\n"
	"    \"web\": { \"servers\": { \"s1\": { \"url\": \"http://10.0.0.11:8080\", \"weight\": 2 "
	"} },\n"
	"             \"loadBalancer\": { \"method\": \"drr\" } }\n"
	"  }\n"
	"}\n";

/* Cases: JSON ----------------------------------------------------------------------------- */

static void json_good(void)
{
	struct reports r;
	CHECK_EQ_INT(from_json(good_json, &r), 0);
	CHECK_EQ_STR(
		outmem,
		"{\"frontends\":{\"web\":{\"backend\":\"web\",\"entryPoints\":[\"http\"],"
		"\"routes\":{\"r1\":{\"rule\":\"Host:www.example.com\"}},\"headers\":{"
		"\"customRequestHeaders\":{\"X-Env\":\"prod\xc3\xa9\"}}}},\"backends\":{\"web\":"
		"{\"servers\":{\"s1\":{\"url\":\"http://10.0.0.11:8080\",\"weight\":2}},"
		"\"loadBalancer\":{\"method\":\"drr\"}}},\"tls\":[]}");
	CHECK_EQ_INT(r.n, 0);
	/* whitespace does not matter: same bytes */
	char again[sizeof outmem];
	snprintf(again, sizeof again, "%s", outmem);
	CHECK_EQ_INT(from_json("{\"backends\":{},\"frontends\":{}}", &r), 0);
	CHECK_EQ_STR(outmem, "{\"frontends\":{},\"backends\":{},\"tls\":[]}");
	CHECK_EQ_INT(from_json("{}", &r), 0);
	CHECK_EQ_STR(outmem, "{\"frontends\":{},\"backends\":{},\"tls\":[]}");
}

static void json_syntax_line(void)
{
	struct reports r;
	CHECK_EQ_INT(from_json("{\n  \"frontends\": {\n    \"a\": 1,\n  }\n}\n", &r),
		     -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 4", NULL));
	CHECK_EQ_INT(from_json("{\n\"frontends\": {", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, NULL, "ends too early"));
	CHECK_EQ_INT(from_json("[]", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 1", "one JSON object"));
	CHECK_EQ_INT(from_json("{\"a\":1,\"a\":2}", &r), -ERR_PROVIDER_FILE);
}

static void json_semantic_errors(void)
{
	struct reports r;
	CHECK_EQ_INT(
		from_json("{\n\"frontends\": {\n \"f\": {\"backend\": \"nope\",\n"
			  " \"routes\": {\"r\": {\"rule\": \"\"}}}},\n"
			  "\"backends\": {\"b\": {\"servers\": {\"s\": {\"url\": \"ftp://x\"}}}},\n"
			  "\"entryPoints\": {},\n"
			  "\"tls\": [{\"certificate\": {\"certFile\": \"/etc/c\", \"keyFile\": "
			  "\"-----BEGIN K-----\"}}]}",
			  &r),
		-ERR_PROVIDER_FILE);
	CHECK(reported(&r, "frontends.f.backend", "line 3: unknown backend \"nope\""));
	CHECK(reported(&r, "frontends.f.routes.r.rule", "line 4"));
	CHECK(reported(&r, "backends.b.servers.s.url", "line 5"));
	CHECK(reported(&r, "entryPoints", "entry points come from deploy"));
	CHECK(reported(&r, "tls.0.certificate.certFile", "inline PEM"));
	CHECK(!reported(&r, "tls.0.certificate.keyFile", NULL));
	CHECK_EQ_INT(from_json("{\"frontends\":{\"f\":{\"routes\":{}}},\"backends\":[]}", &r),
		     -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "backends", "an object"));
	CHECK(reported(&r, "frontends.f.backend", "missing"));
	CHECK_EQ_INT(from_json("{\"frontends\":{\"f\":{\"backend\":\"b\",\"priority\":\"x\"}},"
			       "\"backends\":{\"b\":{}}}",
			       &r),
		     -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "frontends.f.priority", "an integer"));
}

/* Cases: TOML ----------------------------------------------------------------------------- */

static const char traefik_toml[] = "# Traefik v1 dynamic configuration\n"
				   "[backends]\n"
				   "  [backends.backend1]\n"
				   "    [backends.backend1.circuitbreaker]\n"
				   "      expression = \"NetworkErrorRatio() > 0.5\"\n"
				   "    [backends.backend1.servers.server1]\n"
				   "    url = \"http://172.17.0.2:80\"\n"
				   "    weight = 10\n"
				   "    [backends.backend1.servers.server2]\n"
				   "    url = 'http://172.17.0.3:80'  # literal string\n"
				   "    weight = 1_0\n"
				   "    [backends.backend1.loadBalancer]\n"
				   "      method = \"drr\"\n"
				   "      [backends.backend1.loadBalancer.stickiness]\n"
				   "        cookieName = \"my_cookie\"\n"
				   "    [backends.backend1.healthCheck]\n"
				   "      path = \"/health\"\n"
				   "      interval = \"10s\"\n"
				   "      [backends.backend1.healthCheck.headers]\n"
				   "        My-Custom-Header = \"foo\"\n"
				   "[frontends]\n"
				   "  [frontends.frontend1]\n"
				   "  backend = \"backend1\"\n"
				   "  passHostHeader = false\n"
				   "  entryPoints = [\"http\",\n"
				   "                 \"https\", ]\n"
				   "    [frontends.frontend1.routes.test_1]\n"
				   "    rule = \"Host:test.localhost,test2.localhost\"\n"
				   "    [frontends.frontend1.headers.customResponseHeaders]\n"
				   "    X-Custom-Response-Header = \"True\"\n"
				   "    [frontends.frontend1.whiteList]\n"
				   "    sourceRange = [\"10.42.0.0/16\", \"152.89.1.33/32\"]\n"
				   "[[tls]]\n"
				   "  entryPoints = [\"https\"]\n"
				   "  [tls.certificate]\n"
				   "    certFile = \"\"\"\n"
				   "-----BEGIN CERTIFICATE-----\n"
				   "MIIB\\tX\n"
				   "-----END CERTIFICATE-----\"\"\"\n"
				   "    keyFile = '''\n"
				   "-----BEGIN EC PRIVATE KEY-----\n"
				   "MHc\\n\n"
				   "-----END EC PRIVATE KEY-----'''\n"
				   "[[tls]]\n"
				   "  entryPoints = [\"https\"]\n"
				   "  [tls.certificate]\n"
				   "  certFile = \"path/to/legacy.cert\"\n"
				   "  keyFile = \"path/to/legacy.key\"\n";

static void toml_traefik_example(void)
{
	struct reports r;
	REQUIRE(from_toml(traefik_toml, &r) == 0);
	CHECK(strstr(outmem, "\"frontend1\":{\"entryPoints\":[\"http\",\"https\"],\"backend\":"
			     "\"backend1\",\"routes\":{\"test_1\":{\"rule\":\"Host:test.localhost,"
			     "test2.localhost\"}},\"priority\":0,\"passHostHeader\":false,"
			     "\"whitelist\":{\"sourceRange\":[\"10.42.0.0/16\",\"152.89.1.33/32\"],"
			     "\"useXForwardedFor\":false},\"headers\":{\"customResponseHeaders\":{"
			     "\"X-Custom-Response-Header\":\"True\"}}}"));
	CHECK(strstr(outmem,
		     "\"servers\":{\"server1\":{\"url\":\"http://172.17.0.2:80\",\"weight\":"
		     "10},\"server2\":{\"url\":\"http://172.17.0.3:80\",\"weight\":10}}"));
	CHECK(strstr(outmem, "\"loadBalancer\":{\"method\":\"drr\",\"stickiness\":{\"cookieName\":"
			     "\"my_cookie\""));
	CHECK(strstr(outmem, "\"healthCheck\":{\"path\":\"/health\",\"interval\":\"10s\","));
	CHECK(strstr(outmem, "\"headers\":{\"My-Custom-Header\":\"foo\"}"));
	CHECK(strstr(outmem, "\"circuitBreaker\":{\"expression\":\"NetworkErrorRatio() > 0.5\"}"));
	/* basic multi-line string: escapes decoded; literal: kept as written */
	CHECK(strstr(outmem,
		     "\"tls\":[{\"entryPoints\":[\"https\"],\"certificate\":{\"certFile\":"
		     "\"-----BEGIN CERTIFICATE-----\\nMIIB\\tX\\n-----END CERTIFICATE-----\","
		     "\"keyFile\":\"-----BEGIN EC PRIVATE KEY-----\\nMHc\\\\n\\n-----END EC "
		     "PRIVATE KEY-----\"}}]"));
	/* the second [[tls]] names files: reported and skipped */
	CHECK(reported(&r, "tls/1/certificate/certfile", "read no files"));
	/* stickiness in a TOML file is a table, not a flag: reported as such? no: it is enabled
	 * by its presence in Traefik; here cookieName alone gives the block only with
	 * stickiness=true, so check the block is there because the table exists */
}

/* Object names are names only at their depth: a backend called "errors" (the name the error
 * page docs use) or a frontend called "routes" keeps its camelCase keys lower-cased, so its
 * circuitBreaker, loadBalancer, entryPoints, passHostHeader are read, not reported unknown. */
static void toml_keyword_names(void)
{
	struct reports r;
	REQUIRE(from_toml("[backends.errors.servers.s1]\n"
			  "url = \"http://10.0.0.1:80\"\n"
			  "[backends.errors.circuitBreaker]\n"
			  "expression = \"NetworkErrorRatio() > 0.5\"\n"
			  "[backends.errors.loadBalancer]\n"
			  "method = \"drr\"\n"
			  "[frontends.routes]\n"
			  "backend = \"errors\"\n"
			  "entryPoints = [\"web\"]\n"
			  "passHostHeader = false\n"
			  "  [frontends.routes.routes.Servers]\n"
			  "  rule = \"Host:a\"\n"
			  "  [frontends.routes.errors.Headers]\n"
			  "  status = [\"500\"]\n"
			  "  backend = \"errors\"\n"
			  "  [frontends.routes.headers.customResponseHeaders]\n"
			  "  X-Errors = \"Yes\"\n",
			  &r) == 0);
	CHECK(strstr(outmem, "\"routes\":{\"entryPoints\":[\"web\"],\"backend\":\"errors\","
			     "\"routes\":{\"Servers\":{\"rule\":\"Host:a\"}},\"priority\":0,"
			     "\"passHostHeader\":false,"));
	CHECK(strstr(outmem, "\"errors\":{\"Headers\":{\"status\":[\"500\"],\"backend\":"
			     "\"errors\",\"query\":\"\"}}"));
	CHECK(strstr(outmem, "\"customResponseHeaders\":{\"X-Errors\":\"Yes\"}"));
	CHECK(strstr(outmem, "\"loadBalancer\":{\"method\":\"drr\""));
	CHECK(strstr(outmem, "\"circuitBreaker\":{\"expression\":\"NetworkErrorRatio() > 0.5\"}"));
	CHECK(!reported(&r, NULL, "unknown"));
}

static void toml_errors_lines(void)
{
	struct reports r;
	CHECK_EQ_INT(from_toml("[frontends.f]\nbackend = \"b\nx = 1\n", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 2", "newline inside a string"));
	CHECK_EQ_INT(from_toml("a = 1\n\n[x]\ny = {z = 1}\n", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 4", "inline tables"));
	CHECK_EQ_INT(from_toml("[a\n", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 1", "expected ']'"));
	CHECK_EQ_INT(from_toml("k = bare\n", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 1", "strings need quotes"));
	CHECK_EQ_INT(from_toml("k = \"v\" extra\n", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, "line 1", "after the value"));
	CHECK_EQ_INT(from_toml("k = [1, [2]]\n", &r), -ERR_PROVIDER_FILE);
	CHECK_EQ_INT(from_toml("k = \"\\q\"\n", &r), -ERR_PROVIDER_FILE);
	CHECK_EQ_INT(from_toml("k = \"\"\"open\n", &r), -ERR_PROVIDER_FILE);
	CHECK(reported(&r, NULL, "not closed"));
	/* TOML keys compare as written: two spellings are the same KV key, found at sort time */
	int n = provider_file_toml(SLICE_LIT("[frontends.f]\nbackend = \"a\"\nBackend = \"b\"\n"),
				   kvs, 2048, scratch, sizeof scratch, NULL);
	CHECK_EQ_INT(n, 2);
	CHECK(slice_eq(kvs[0].key, kvs[1].key));
	/* the cap on pairs */
	struct provider_diag d;
	provider_diag_init(&d, "file", collect, &r);
	CHECK_EQ_INT(provider_file_toml(SLICE_LIT("a = [1, 2, 3]\n"), kvs, 2, scratch,
					sizeof scratch, &d),
		     -ERR_PROVIDER_TOO_MANY_KEYS);
}

static void toml_same_as_kv(void)
{
	/* The same configuration as TOML and as KV pairs gives the same bytes. */
	struct reports r;
	REQUIRE(from_toml("[frontends.web]\nbackend = \"b\"\nentryPoints = [\"https\"]\n"
			  "[frontends.web.routes.r]\nrule = \"Path:/\"\n"
			  "[frontends.web.redirect]\nentryPoint = \"https\"\n"
			  "[backends.b.servers.s1]\nurl = \"http://10.0.0.1:80\"\n"
			  "[backends.b.maxConn]\namount = 10\n",
			  &r) == 0);
	char t[4096];
	snprintf(t, sizeof t, "%s", outmem);
	static const char *const kvl[][2] = {
		{"frontends/web/backend", "b"},
		{"frontends/web/entrypoints/0", "https"},
		{"frontends/web/routes/r/rule", "Path:/"},
		{"frontends/web/redirect/entrypoint", "https"},
		{"backends/b/servers/s1/url", "http://10.0.0.1:80"},
		{"backends/b/maxconn/amount", "10"},
	};
	struct provider_kv kv[6];
	for (int i = 0; i < 6; i++) {
		kv[i].key = slice_from_cstr(kvl[i][0]);
		kv[i].val = slice_from_cstr(kvl[i][1]);
	}
	provider_kv_sort(kv, 6);
	struct buf out;
	buf_init(&out, outmem, sizeof outmem - 1);
	struct provider_diag d;
	provider_diag_init(&d, "kv", collect, &r);
	REQUIRE(provider_kv_translate(kv, 6, &out, &d) == 0);
	outmem[out.len] = 0;
	CHECK_EQ_STR(t, outmem);
}

/* Every prefix of a valid file: an error or a result, never a crash (ASan/UBSan watch), and
 * TOML errors always name a line. */
static void every_prefix(void)
{
	struct reports r;
	size_t n = strlen(traefik_toml);
	static char cut[sizeof traefik_toml];
	for (size_t i = 0; i <= n; i++) {
		memcpy(cut, traefik_toml, i);
		cut[i] = 0;
		int rc = from_toml(cut, &r);
		CHECK(rc == 0 || rc == -ERR_PROVIDER_FILE);
		if (rc == -ERR_PROVIDER_FILE)
			CHECK(r.n > 0 && strncmp(r.keys[0], "line ", 5) == 0);
	}
	n = strlen(good_json);
	for (size_t i = 0; i < n; i++) {
		memcpy(cut, good_json, i);
		cut[i] = 0;
		int rc = from_json(cut, &r);
		CHECK(rc == -ERR_PROVIDER_FILE || (rc == 0 && i >= n - 2));
	}
}

/* Cases: the watcher ------------------------------------------------------------------------ */

static struct {
	struct loop loop;
	struct provider_emit emit;
	struct provider_diag diag;
	struct provider_file pf;
	struct reports r;
	int docs;
	char doc[1 << 16];
} fx;

static void on_doc(void *arg, struct slice doc)
{
	fx.docs++;
	snprintf(fx.doc, sizeof fx.doc, "%.*s", (int)doc.len, doc.p);
}

static int fx_start(const char *name, bool watch, size_t max_file)
{
	memset(&fx, 0, sizeof fx);
	struct loop_config lc = {.max_fds = 8, .max_timers = 16, .max_events = 8};
	int rc = loop_init(&fx.loop, &lc);
	if (rc < 0)
		return rc;
	struct provider_limits lim;
	provider_limits_default(&lim);
	lim.max_doc_bytes = 1 << 16;
	lim.max_file_bytes = max_file;
	lim.max_keys = 1024;
	provider_diag_init(&fx.diag, "file", collect, &fx.r);
	rc = provider_emit_init(&fx.emit, &fx.loop, lim.max_doc_bytes, 0, on_doc, NULL);
	if (rc < 0)
		return rc;
	char p[128], msg[256];
	path_of(p, sizeof p, name);
	struct provider_file_config fc = {
		.filename = p, .watch = watch, .limits = lim, .emit = &fx.emit, .diag = &fx.diag};
	rc = provider_file_init(&fx.pf, &fx.loop, &fc, msg, sizeof msg);
	if (rc < 0)
		return rc;
	return provider_file_start(&fx.pf);
}

static void fx_stop(void)
{
	provider_file_fini(&fx.pf);
	provider_emit_fini(&fx.emit);
	loop_fini(&fx.loop);
}

static bool run_until(int want, uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (fx.docs < want && time_mono_ms() < end)
		loop_run_once(&fx.loop, 10);
	return fx.docs >= want;
}

static void run_for(uint64_t ms)
{
	uint64_t end = time_mono_ms() + ms;
	while (time_mono_ms() < end)
		loop_run_once(&fx.loop, 10);
}

static const char json_v2[] =
	"{\"backends\":{\"web\":{\"servers\":{\"s1\":{\"url\":\"http://10.0.0.99:80\"}}}}}";

static void watch_rename_replace(void)
{
	REQUIRE(make_dir());
	write_file("routes.json", good_json);
	REQUIRE(fx_start("routes.json", true, 1 << 16) == 0);
	REQUIRE(run_until(1, 2000));
	CHECK(strstr(fx.doc, "10.0.0.11:8080"));
	/* editor-style replace: the watch on the directory sees it */
	replace_file("routes.json", json_v2);
	CHECK(run_until(2, 2000));
	CHECK(strstr(fx.doc, "10.0.0.99:80"));
	/* and again: the watch survived the first rename */
	replace_file("routes.json", good_json);
	CHECK(run_until(3, 2000));
	CHECK(strstr(fx.doc, "10.0.0.11:8080"));
	/* another file in the directory: ignored */
	write_file("other.json", "{}");
	run_for(200);
	CHECK_EQ_INT(fx.docs, 3);
	CHECK_EQ_INT(fx.pf.reads, 3);
	fx_stop();
	remove_dir();
}

static void watch_invalid_keeps_last(void)
{
	REQUIRE(make_dir());
	write_file("r.json", good_json);
	REQUIRE(fx_start("r.json", true, 1 << 16) == 0);
	REQUIRE(run_until(1, 2000));
	/* in-place write of a broken file: reported with the line, nothing emitted */
	write_file("r.json",
		   "{\n  \"frontends\": {\n    \"x\": {\"backend\": \"missing\"}\n  }\n}\n");
	run_for(300);
	CHECK_EQ_INT(fx.docs, 1);
	CHECK(fx.pf.errors >= 1);
	CHECK(reported(&fx.r, "frontends.x.backend", "line 3"));
	/* deleted: reported, still nothing emitted */
	char p[128];
	path_of(p, sizeof p, "r.json");
	unlink(p);
	run_for(300);
	CHECK_EQ_INT(fx.docs, 1);
	/* back, empty (a writer that truncated it): refused, last good kept */
	write_file("r.json", "  \n");
	run_for(300);
	CHECK_EQ_INT(fx.docs, 1);
	CHECK(reported(&fx.r, NULL, "file is empty"));
	/* a .json file is JSON whatever it starts with */
	write_file("r.json", "[backends.b.servers.s]\nurl = \"http://10.1.1.1:80\"\n");
	run_for(300);
	CHECK_EQ_INT(fx.docs, 1);
	write_file("r.json", json_v2);
	CHECK(run_until(2, 2000));
	CHECK(strstr(fx.doc, "10.0.0.99:80"));
	/* rewriting the same content: no new document */
	write_file("r.json", json_v2);
	run_for(300);
	CHECK_EQ_INT(fx.docs, 2);
	fx_stop();
	/* no extension: TOML when it does not start with '{' */
	write_file("routes", "[backends.b.servers.s]\nurl = \"http://10.1.1.1:80\"\n");
	REQUIRE(fx_start("routes", true, 1 << 16) == 0);
	CHECK(run_until(1, 2000));
	CHECK(strstr(fx.doc, "10.1.1.1:80"));
	fx_stop();
	remove_dir();
}

static void no_watch_and_cap(void)
{
	REQUIRE(make_dir());
	write_file("r.toml", "[backends.b.servers.s]\nurl = \"http://10.1.1.1:80\"\n");
	REQUIRE(fx_start("r.toml", false, 1 << 16) == 0);
	REQUIRE(run_until(1, 1000));
	write_file("r.toml", "[backends.c.servers.s]\nurl = \"http://10.1.1.2:80\"\n");
	run_for(200);
	CHECK_EQ_INT(fx.docs, 1);
	CHECK_EQ_INT(fx.pf.ifd, -1);
	fx_stop();
	/* the cap on the file: just under succeeds, just over is refused with its name */
	size_t len = strlen(good_json);
	write_file("c.json", good_json);
	REQUIRE(fx_start("c.json", false, len) == 0);
	CHECK(run_until(1, 1000));
	fx_stop();
	REQUIRE(fx_start("c.json", false, len - 1) == 0);
	run_for(100);
	CHECK_EQ_INT(fx.docs, 0);
	CHECK_EQ_INT(fx.pf.last_err, -ERR_TOO_LARGE);
	CHECK(reported(&fx.r, NULL, "max_file_bytes"));
	fx_stop();
	remove_dir();
}

static void via_flags(void)
{
	REQUIRE(make_dir());
	write_file("routes.json", good_json);
	memset(&fx, 0, sizeof fx);
	struct loop_config lc = {.max_fds = 8, .max_timers = 16, .max_events = 8};
	REQUIRE(loop_init(&fx.loop, &lc) == 0);
	struct provider_config cfg = {0};
	provider_flags_default(&cfg.flags);
	char p[128];
	path_of(p, sizeof p, "routes.json");
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "file", NULL), 0);
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "file.filename", p), 0);
	CHECK_EQ_INT(provider_flags_set(&cfg.flags, "providersThrottleDuration", "0s"), 0);
	provider_limits_default(&cfg.limits);
	cfg.limits.max_doc_bytes = 1 << 16;
	cfg.limits.max_file_bytes = 1 << 16;
	cfg.on_doc = on_doc;
	cfg.report = collect;
	cfg.report_ctx = &fx.r;
	struct provider pr;
	REQUIRE(provider_init(&pr, &fx.loop, &cfg) == 0);
	CHECK_EQ_INT(provider_start(&pr), 0);
	struct provider_status st;
	CHECK(run_until(1, 1000));
	provider_status_get(&pr, &st);
	CHECK_EQ_INT(st.state, PROVIDER_WATCHING);
	CHECK_EQ_INT(st.applied, 1);
	replace_file("routes.json", json_v2);
	CHECK(run_until(2, 2000));
	provider_status_get(&pr, &st);
	CHECK_EQ_STR(provider_state_name(st.state), "watching");
	CHECK_EQ_INT(st.applied, 2);
	CHECK_EQ_INT(st.last_err, 0);
	/* an invalid file: state error with the path, the last document stays */
	replace_file("routes.json", "{\"backends\":");
	run_for(300);
	provider_status_get(&pr, &st);
	CHECK_EQ_STR(provider_state_name(st.state), "error");
	CHECK(st.last_err < 0);
	CHECK(strstr(st.errmsg, "routes.json"));
	CHECK_EQ_INT(st.applied, 2);
	CHECK_EQ_INT(fx.docs, 2);
	CHECK(strstr(fx.doc, "10.0.0.99:80"));
	/* fixed: watching again */
	replace_file("routes.json", good_json);
	CHECK(run_until(3, 2000));
	provider_status_get(&pr, &st);
	CHECK_EQ_INT(st.state, PROVIDER_WATCHING);
	CHECK_EQ_INT(st.applied, 3);
	provider_fini(&pr);
	loop_fini(&fx.loop);
	remove_dir();
}

/* A whole traefik.toml read by the file provider (deploy --configfile with [file] and no
 * filename): its static sections are skipped quietly, its routes read as usual. */
static void toml_static_sections_quiet(void)
{
	struct reports r;
	REQUIRE(from_toml("logLevel = \"INFO\"\ndefaultEntryPoints = [\"http\"]\n"
			  "[entryPoints.http]\naddress = \":80\"\n"
			  "[entryPoints.http.redirect]\nentryPoint = \"https\"\n"
			  "[api]\ndashboard = true\n[file]\nwatch = true\n"
			  "[frontends.f]\nbackend = \"b\"\n[frontends.f.routes.r]\n"
			  "rule = \"Host:a.test\"\n[backends.b.servers.s]\n"
			  "url = \"http://127.0.0.1:9\"\n[bogus]\nx = 1\n",
			  &r) == 0);
	CHECK(strstr(outmem, "\"rule\":\"Host:a.test\"") != NULL);
	CHECK(reported(&r, "bogus/x", "unknown key"));
	CHECK_EQ_INT(r.n, 1);
	/* The static parse keeps entry point names and marks every table header. */
	struct provider_diag d;
	provider_diag_init(&d, "configfile", collect, &r);
	int n = provider_file_toml_static(
		slice_from_cstr(
			"[entryPoints.HTTPS.tls]\n[file]\n[frontends.F]\nbackend = \"b\"\n"),
		kvs, 2048, scratch, sizeof scratch, &d);
	REQUIRE(n == 4);
	CHECK(slice_eq_cstr(kvs[0].key, "entrypoints/HTTPS/tls/") && kvs[0].val.len == 0);
	CHECK(slice_eq_cstr(kvs[1].key, "file/"));
	CHECK(slice_eq_cstr(kvs[2].key, "frontends/F/"));
	CHECK(slice_eq_cstr(kvs[3].key, "frontends/F/backend"));
	/* ...and the routing-file parse does neither. */
	n = provider_file_toml(
		slice_from_cstr("[entryPoints.HTTPS.tls]\nminVersion = \"x\"\n[file]\n"), kvs, 2048,
		scratch, sizeof scratch, &d);
	REQUIRE(n == 1);
	CHECK(slice_eq_cstr(kvs[0].key, "entrypoints/HTTPS/tls/minversion"));
}

TEST_MAIN(json_good, json_syntax_line, json_semantic_errors, toml_traefik_example,
	  toml_keyword_names, toml_errors_lines, toml_same_as_kv, every_prefix,
	  watch_rename_replace, watch_invalid_keeps_last, no_watch_and_cap, via_flags,
	  toml_static_sections_quiet)
