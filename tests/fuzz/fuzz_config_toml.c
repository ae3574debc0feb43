/* fuzz_config_toml.c — libFuzzer harness for the TOML readers: `deploy --configfile`
 * (node_configfile_merge_text over provider_file_toml_static and proxy_ep_parse) and the file
 * provider's routing TOML (provider_file_toml, then provider_kv_translate).
 *
 * Input: the first byte picks the path (even: a static configuration, odd: a routing file);
 * the rest is the file's text. For every input:
 *   1. --configfile: the result is 0 or -ERR_INVAL; a refusal has a message that names
 *      --configfile=; a success keeps every command-line argument, puts the file's settings
 *      first, and every --entryPoints value it made parses with proxy_ep_parse. The same text
 *      again gives the same result (no state leaks from one call to the next).
 *   2. Routing TOML: the parse gives a count within the array or an error; a translated
 *      document is valid JSON (json_validate).
 * Any violation calls abort().
 */
#include "base/base_err.h"
#include "json/json.h"
#include "node/node.h"
#include "provider/provider_file.h"
#include "provider/provider_kv.h"
#include "proxy/proxy_entrypoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct provider_kv kvs[2048];
static char kbuf[1 << 18];
static char docmem[1 << 18];

static void quiet(void *ctx, enum log_level level, const char *key, const char *msg) {}

static void static_config(const char *text, size_t len)
{
	static const struct node_arg argv[] = {
		{"configfile", "/nonexistent/traefik.toml", true},
		{"entryPoints", "Name:http Address::8080", true},
		{"file.watch", "true", false},
		{"providersthrottleduration", "2s", false},
	};
	struct node_args in = {NULL, "deploy", argv, sizeof argv / sizeof argv[0], NULL, 0}, out;
	char err[512] = "";
	int rc = node_configfile_merge_text(&in, "/nonexistent/traefik.toml", text, len, &out, err,
					    sizeof err);
	ASSERT(rc == 0 || rc == -ERR_INVAL);
	if (rc < 0) {
		ASSERT(strncmp(err, "--configfile=", 13) == 0);
		return;
	}
	ASSERT(out.n >= in.n - 2); /* at most the two defaults are shadowed */
	size_t kept = 0;
	for (size_t i = 0; i < out.n; i++) {
		ASSERT(out.v[i].name && out.v[i].value);
		if (out.v[i].set && out.v[i].value == argv[1].value)
			kept++;
		if (!strcasecmp(out.v[i].name, "entryPoints")) {
			struct proxy_ep_spec sp;
			char perr[200];
			ASSERT(proxy_ep_parse(slice_from_cstr(out.v[i].value), &sp, perr,
					      sizeof perr) == 0);
			/* the command line's http wins over any of the file's */
			ASSERT(out.v[i].value == argv[1].value || !slice_eq_cstr(sp.name, "http"));
		}
	}
	ASSERT(kept == 1);
	/* Deterministic: the same text gives the same arguments. */
	size_t n1 = out.n;
	char first[256] = "";
	if (n1)
		snprintf(first, sizeof first, "%s=%s", out.v[0].name, out.v[0].value);
	ASSERT(node_configfile_merge_text(&in, "/nonexistent/traefik.toml", text, len, &out, err,
					  sizeof err) == 0);
	ASSERT(out.n == n1);
	char again[256] = "";
	if (n1)
		snprintf(again, sizeof again, "%s=%s", out.v[0].name, out.v[0].value);
	ASSERT(strcmp(first, again) == 0);
}

static void routing(const char *text, size_t len)
{
	struct provider_diag d;
	provider_diag_init(&d, "file", quiet, NULL);
	int n = provider_file_toml((struct slice){text, len}, kvs, 2048, kbuf, sizeof kbuf, &d);
	if (n < 0)
		return;
	ASSERT(n <= 2048);
	provider_kv_sort(kvs, (size_t)n);
	struct buf out;
	buf_init(&out, docmem, sizeof docmem);
	if (provider_kv_translate(kvs, (size_t)n, &out, &d) < 0)
		return;
	ASSERT(out.len > 0 && json_validate(docmem, out.len, NULL) >= 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (64u << 10))
		return 0;
	const char *text = (const char *)data + 1;
	if (data[0] & 1)
		routing(text, size - 1);
	else
		static_config(text, size - 1);
	return 0;
}
