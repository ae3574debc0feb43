/* bench_parse.c — throughput of the HTTP/1.1 request parser (make bench-parse).
 *
 * Parses a typical browser request (545 bytes, 11 fields) in a loop for about two seconds
 * and prints requests and megabytes per second; then the same request arriving one byte per
 * call (what a slowloris client costs), and a chunked body through http_chunked_decode.
 * Each result line starts with "bench-parse:". Exit status 1 if a parse fails.
 *
 * The clock is read here, in the tool, never inside the parser.
 */
#include "http/http_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char request[] =
	"GET /articles/2024/06/edge-routing-at-scale?utm_source=feed&ref=home HTTP/1.1\r\n"
	"Host: www.example.org\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br, zstd\r\n"
	"Referer: https://www.example.org/articles/\r\n"
	"Cookie: session=5f1c2a9e0b7d4c3a; theme=dark; consent=yes\r\n"
	"Connection: keep-alive\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"Sec-Fetch-Dest: document\r\n"
	"Sec-Fetch-Mode: navigate\r\n"
	"\r\n";

#define REQ_LEN (sizeof request - 1)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, size_t bytes, unsigned long n, double secs)
{
	printf("bench-parse: %s %zu bytes, %.0f req/s, %.1f MB/s\n", what, bytes, (double)n / secs,
	       (double)n * (double)bytes / secs / 1e6);
}

static int bench_whole(const struct http_limits *lim, double budget)
{
	struct http_header hdr[32];
	struct http_request req;
	unsigned long n = 0, fields = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 4096; i++) {
			http_request_init(&req, hdr, 32);
			if (http_parse_request(&req, request, REQ_LEN, lim) != (int)REQ_LEN)
				return 1;
			fields += req.h.nhdr;
		}
		n += 4096;
		t = now() - t0;
	} while (t < budget);
	if (fields != n * 11)
		return 1;
	report("request", REQ_LEN, n, t);
	return 0;
}

static int bench_bytewise(const struct http_limits *lim, double budget)
{
	struct http_header hdr[32];
	struct http_request req;
	unsigned long n = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 256; i++) {
			int rc = -1;
			http_request_init(&req, hdr, 32);
			for (size_t len = 1; len <= REQ_LEN; len++)
				rc = http_parse_request(&req, request, len, lim);
			if (rc != (int)REQ_LEN)
				return 1;
		}
		n += 256;
		t = now() - t0;
	} while (t < budget);
	report("byte-by-byte request", REQ_LEN, n, t);
	return 0;
}

/* A 16 KiB body in 256-byte chunks, each with a short extension, then a trailer field. The
 * decoder hands data back as slices, so this measures the framing work per chunk. */
static int bench_chunked(const struct http_limits *lim, double budget)
{
	static char body[24 * 1024];
	size_t len = 0;
	for (int c = 0; c < 64; c++) {
		len += (size_t)snprintf(body + len, sizeof body - len, "100;n=%d\r\n", c);
		memset(body + len, 'a' + c % 26, 256);
		len += 256;
		memcpy(body + len, "\r\n", 2);
		len += 2;
	}
	len += (size_t)snprintf(body + len, sizeof body - len, "0\r\nX-Digest: abc\r\n\r\n");

	unsigned long n = 0;
	size_t data = 0;
	double t0 = now(), t;
	do {
		for (int i = 0; i < 256; i++) {
			struct http_chunked ck;
			size_t off = 0, used;
			struct slice d;
			int rc = 0;
			http_chunked_init(&ck);
			while (rc == 0 && off < len) {
				rc = http_chunked_decode(&ck, body + off, len - off, lim, &used,
							 &d);
				off += used;
				data += d.len;
			}
			if (rc != 1 || off != len)
				return 1;
		}
		n += 256;
		t = now() - t0;
	} while (t < budget);
	if (data != n * 64 * 256)
		return 1;
	printf("bench-parse: chunked body %zu bytes in 256-byte chunks, %.0f bodies/s, %.1f MB/s\n",
	       len, (double)n / t, (double)n * (double)len / t / 1e6);
	return 0;
}

int main(void)
{
	struct http_limits lim;
	http_limits_default(&lim);
	if (bench_whole(&lim, 2.0) || bench_bytewise(&lim, 1.0) || bench_chunked(&lim, 1.0)) {
		fprintf(stderr, "bench-parse: a parse failed\n");
		return 1;
	}
	return 0;
}
