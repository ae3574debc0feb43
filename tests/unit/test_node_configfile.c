/* Unit tests for node_configfile.c: `deploy --configfile` turns a Traefik v1 TOML static
 * configuration into deploy flags, lets the command line win, and refuses what it cannot do
 * with the key's name. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base_err.h"
#include "node/node.h"
#include "test.h"

static char dir[64];
static char path[128];

static void write_conf(const char *text)
{
	if (!dir[0] || access(dir, F_OK) != 0) { /* a case may have removed it */
		snprintf(dir, sizeof dir, "/tmp/tee-cf-XXXXXX");
		REQUIRE(mkdtemp(dir) != NULL);
	}
	snprintf(path, sizeof path, "%s/traefik.toml", dir);
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs(text, f);
	fclose(f);
}

/* The deploy command's arguments: --configfile=path plus extra (name, value) pairs given on
 * the command line, then the unset defaults a real parse would add. */
static struct node_arg argv_[32];
static struct node_args args_of(const char *const *extra)
{
	size_t n = 0;
	argv_[n++] = (struct node_arg){"configfile", path, true};
	for (size_t i = 0; extra && extra[i]; i += 2)
		argv_[n++] = (struct node_arg){extra[i], extra[i + 1], true};
	argv_[n++] = (struct node_arg){"file.watch", "true", false};
	argv_[n++] = (struct node_arg){"consul.endpoint", "127.0.0.1:8500", false};
	argv_[n++] = (struct node_arg){"providersthrottleduration", "2s", false};
	return (struct node_args){"traefikee", "deploy", argv_, n, NULL, 0};
}

static char err[512];

static int merge(const char *text, const char *const *extra, struct node_args *out)
{
	write_conf(text);
	struct node_args in = args_of(extra);
	err[0] = '\0';
	return node_configfile_merge(&in, out, err, sizeof err);
}

/* The i-th value of flag name in a (NULL when there are fewer). */
static const char *nth(const struct node_args *a, const char *name, size_t i)
{
	for (size_t k = 0; k < a->n; k++)
		if (!strcasecmp(a->v[k].name, name) && a->v[k].set && i-- == 0)
			return a->v[k].value;
	return NULL;
}

static const char *full = "logLevel = \"INFO\"\n"
			  "defaultEntryPoints = [\"http\", \"https\"]\n"
			  "providersThrottleDuration = \"0s\"\n"
			  "[entryPoints]\n"
			  "  [entryPoints.http]\n"
			  "  address = \":80\"\n"
			  "    [entryPoints.http.redirect]\n"
			  "    entryPoint = \"https\"\n"
			  "  [entryPoints.https]\n"
			  "  address = \":443\"\n"
			  "    [entryPoints.https.tls]\n"
			  "    minVersion = \"VersionTLS12\"\n"
			  "      [[entryPoints.https.tls.certificates]]\n"
			  "      certFile = \"a.crt\"\n"
			  "      keyFile = \"a.key\"\n"
			  "      [[entryPoints.https.tls.certificates]]\n"
			  "      certFile = \"b.crt\"\n"
			  "      keyFile = \"b.key\"\n"
			  "  [entryPoints.Admin]\n"
			  "  address = \"127.0.0.1:8081\"\n"
			  "  compress = true\n"
			  "    [entryPoints.Admin.whiteList]\n"
			  "    sourceRange = [\"10.0.0.0/8\", \"127.0.0.1/32\"]\n"
			  "    useXForwardedFor = true\n"
			  "    [entryPoints.Admin.auth.basic]\n"
			  "    users = [\"u:$apr1$x$y\"]\n"
			  "  [entryPoints.bare]\n"
			  "  address = \":8443\"\n"
			  "    [entryPoints.bare.tls]\n"
			  "[file]\n"
			  "watch = false\n"
			  "[frontends.f1]\n"
			  "backend = \"b1\"\n"
			  "  [frontends.f1.routes.r1]\n"
			  "  rule = \"Host:a.test\"\n"
			  "[backends.b1.servers.s1]\n"
			  "url = \"http://127.0.0.1:9\"\n"
			  "[api]\n"
			  "[accessLog]\n";

static void full_configuration(void)
{
	struct node_args a;
	REQUIRE(merge(full, NULL, &a) == 0);
	CHECK_EQ_STR(nth(&a, "entryPoints", 0), "Name:http Address::80 Redirect.EntryPoint:https");
	CHECK_EQ_STR(nth(&a, "entryPoints", 1),
		     "Name:https Address::443 TLS.MinVersion:VersionTLS12 "
		     "TLS:a.crt,a.key;b.crt,b.key");
	CHECK_EQ_STR(nth(&a, "entryPoints", 2),
		     "Name:Admin Address:127.0.0.1:8081 Compress:true "
		     "WhiteList.SourceRange:10.0.0.0/8,127.0.0.1/32 "
		     "WhiteList.UseXForwardedFor:true Auth.Basic.Users:u:$apr1$x$y");
	CHECK_EQ_STR(nth(&a, "entryPoints", 3), "Name:bare Address::8443 TLS");
	CHECK(nth(&a, "entryPoints", 4) == NULL);
	CHECK_EQ_STR(node_arg_str(&a, "defaultentrypoints"), "http,https");
	CHECK_EQ_STR(node_arg_str(&a, "providersthrottleduration"), "0s");
	CHECK_EQ_STR(node_arg_str(&a, "file.watch"), "false");
	/* Frontends in the file itself: the file is the file provider's, by absolute path. */
	char abs[PATH_MAX];
	REQUIRE(realpath(path, abs) != NULL);
	CHECK_EQ_STR(node_arg_str(&a, "file.filename"), abs);
	CHECK(!node_arg_bool(&a, "consul"));
	CHECK(node_arg_given(&a, "configfile"));
}

static void command_line_wins(void)
{
	const char *extra[] = {"entryPoints",
			       "Name:http Address::8080",
			       "defaultentrypoints",
			       "https",
			       "providersthrottleduration",
			       "5s",
			       "etcd.endpoint",
			       "127.0.0.1:2379",
			       NULL};
	struct node_args a;
	REQUIRE(merge(full, extra, &a) == 0);
	/* The file's http is replaced by the flag's; its other entry points stay. */
	size_t n = 0;
	const char *v;
	bool flag_http = false, file_http = false;
	while ((v = nth(&a, "entryPoints", n++))) {
		flag_http |= !strcmp(v, "Name:http Address::8080");
		file_http |= !strncmp(v, "Name:http Address::80 ", 22);
	}
	CHECK(flag_http);
	CHECK(!file_http);
	CHECK_EQ_INT(n - 1, 4);
	CHECK_EQ_STR(node_arg_str(&a, "defaultentrypoints"), "https");
	CHECK_EQ_STR(node_arg_str(&a, "providersthrottleduration"), "5s");
	/* A provider on the command line replaces the file's [file]. */
	CHECK(node_arg_str(&a, "file.filename") == NULL);
	CHECK_EQ_STR(node_arg_str(&a, "file.watch"), "true");
}

static void consul_section(void)
{
	struct node_args a;
	REQUIRE(merge("[entryPoints.http]\naddress = \":80\"\n"
		      "[consul]\nendpoint = \"10.0.0.5:8500\"\nprefix = \"edge\"\n"
		      "  [consul.tls]\n  insecureSkipVerify = true\n",
		      NULL, &a) == 0);
	CHECK(node_arg_bool(&a, "consul"));
	CHECK_EQ_STR(node_arg_str(&a, "consul.endpoint"), "10.0.0.5:8500");
	CHECK_EQ_STR(node_arg_str(&a, "consul.prefix"), "edge");
	CHECK_EQ_STR(node_arg_str(&a, "consul.tls.insecureskipverify"), "true");
	/* An empty [etcd] section enables etcd with the defaults. */
	REQUIRE(merge("[entryPoints.http]\naddress = \":80\"\n[etcd]\n", NULL, &a) == 0);
	CHECK(node_arg_bool(&a, "etcd"));
}

static void no_configfile_is_identity(void)
{
	struct node_arg v[] = {{"entryPoints", "Name:http Address::80", true}};
	struct node_args in = {"traefikee", "deploy", v, 1, NULL, 0}, out;
	CHECK_EQ_INT(node_configfile_merge(&in, &out, err, sizeof err), 0);
	CHECK(out.v == v && out.n == 1);
}

/* Each bad file is refused with a sentence naming the problem. */
static void refusals(void)
{
	static const struct {
		const char *text;
		const char *says;
	} bad[] = {
		{"[entryPoints.http]\naddress = \":80\"\nbogus = 1\n", "entryPoints.http.bogus"},
		{"[entryPoints.http]\naddress = \":80\"\n[docker]\nendpoint = \"x\"\n",
		 "[docker] is not supported"},
		{"[entryPoints.http]\naddress = \":80\"\n[acme]\n", "[acme] is not supported"},
		{"[entryPoints.http]\naddress = \":80\"\nwhatIsThis = true\n",
		 "whatisthis: unknown"},
		{"[entryPoints.http]\naddress = \"nowhere\"\n", "entryPoints.http"},
		{"[entryPoints.http]\naddress = \":80\"\n[entryPoints.http.redirect]\n"
		 "regex = \"^http://(.*) x\"\n",
		 "a value with spaces"},
		{"[entryPoints.s]\naddress = \":443\"\n[[entryPoints.s.tls.certificates]]\n"
		 "certFile = \"a.crt\"\n",
		 "give both certFile and keyFile"},
		{"[entryPoints.http]\naddress = \":80\"\n[entryPoints.http.auth.basic]\n"
		 "usersFile = \"/etc/users\"\n",
		 "usersfile: not supported"},
		{"[entryPoints.http]\naddress = \":80\"\n[file]\n", "[file] needs a filename"},
		{"[entryPoints.http]\naddress = \":80\"\n[frontends.f]\nbackend = \"b\"\n",
		 "need a [file] section"},
		{"[entryPoints.http]\naddress = \":80\"\n[file]\nfilename = \"r.toml\"\n[consul]\n",
		 "give one provider"},
		{"[file]\ndirectory = \"/etc/traefik\"\n", "file.directory is not supported"},
		{"[entryPoints.http\naddress = \":80\"\n", "line 1"},
		{"defaultEntryPoints = [\"a\", \"b,c\"]\n[entryPoints.http]\naddress=\":80\"\n"
		 "[entryPoints.http.whiteList]\nsourceRange = [\"10.0.0.0/8,1.2.3.4/32\"]\n",
		 "an item holds ','"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct node_args a;
		int rc = merge(bad[i].text, NULL, &a);
		CHECK_EQ_INT(rc, -ERR_INVAL);
		if (!strstr(err, bad[i].says) || !strstr(err, "--configfile=")) {
			fprintf(stderr, "# case %zu: \"%s\" does not say \"%s\"\n", i, err,
				bad[i].says);
			CHECK(false);
		}
	}
	/* A file that does not exist, and an empty name. */
	struct node_arg v[] = {{"configfile", "/nonexistent/traefik.toml", true}};
	struct node_args in = {"traefikee", "deploy", v, 1, NULL, 0}, out;
	CHECK_EQ_INT(node_configfile_merge(&in, &out, err, sizeof err), -ERR_INVAL);
	CHECK(strstr(err, "/nonexistent/traefik.toml") != NULL);
	v[0].value = "";
	CHECK_EQ_INT(node_configfile_merge(&in, &out, err, sizeof err), -ERR_INVAL);
	CHECK(strstr(err, "give a file name") != NULL);
	unlink(path);
	rmdir(dir);
}

/* The file size cap (1 MiB) and the entry point cap (64), each on both sides. */
static void caps_both_sides(void)
{
	static char big[(1u << 20) + 2];
	const char *ep = "[entryPoints.http]\naddress = \":80\"\n";
	size_t head = strlen(ep);
	struct node_args a;
	for (int over = 0; over < 2; over++) {
		size_t total = (1u << 20) + (size_t)over;
		memcpy(big, ep, head);
		/* comment lines of 64 bytes fill the rest; the last one is cut to size */
		for (size_t i = head; i < total; i++)
			big[i] = (i - head) % 64 == 63 || i == total - 1 ? '\n' : '#';
		big[total] = '\0';
		int rc = merge(big, NULL, &a);
		if (!over) {
			CHECK_EQ_INT(rc, 0);
			CHECK_EQ_STR(nth(&a, "entryPoints", 0), "Name:http Address::80");
		} else {
			CHECK_EQ_INT(rc, -ERR_INVAL);
			CHECK(strstr(err, "over 1048576 bytes") != NULL);
		}
	}
	for (int n = 64; n <= 65; n++) {
		size_t o = 0;
		for (int i = 0; i < n; i++)
			o += (size_t)snprintf(big + o, sizeof big - o,
					      "[entryPoints.e%d]\naddress = \":%d\"\n", i,
					      8000 + i);
		int rc = merge(big, NULL, &a);
		if (n == 64) {
			CHECK_EQ_INT(rc, 0);
			CHECK(nth(&a, "entryPoints", 63) != NULL);
			CHECK(nth(&a, "entryPoints", 64) == NULL);
		} else {
			CHECK_EQ_INT(rc, -ERR_INVAL);
			CHECK(strstr(err, "over 64 entry points") != NULL);
		}
	}
	unlink(path);
	rmdir(dir);
}

TEST_MAIN(full_configuration, command_line_wins, consul_section, no_configfile_is_identity,
	  refusals, caps_both_sides)
