/* node_logs.c — a control node's recent log lines in memory, served as GET /logs
 * (`traefikeectl logs`, `traefikee logs`).
 *
 * Every line the node logs is also copied (log_set_tap) into a ring of CTL_LOG_RING bytes:
 * records of one level byte and the line, newline included; the oldest whole lines are dropped
 * to make room. Offsets are counted from the node's start (64-bit, never wrap), so a reader
 * holds an offset and can tell when the lines it has not read yet were overwritten: it then
 * jumps to the oldest line kept and says how many bytes were skipped.
 *
 * GET /logs[?level=warn][&follow=true] streams the kept lines at or above the level, oldest
 * first; with follow=true the stream stays open and new lines follow (checked every
 * CTL_LOG_TICK_MS; the tap itself never touches sockets, so logging from inside the API cannot
 * recurse). At most CTL_LOG_READERS readers at once; a slow reader gets back-pressure, and if
 * the ring laps it, a "lines skipped" mark.
 *
 * Memory: the ring (static) and CTL_LOG_READERS small records. The node logs what it logged
 * before too (stderr): this is a copy for remote reading, not the log of record.
 */
#include <stdio.h>
#include <string.h>

#include "base/base_err.h"
#include "base/base_log.h"
#include "node/node_control.h"

#define CTL_LOG_RING (256u << 10)
#define CTL_LOG_READERS 8
#define CTL_LOG_TICK_MS 100

static struct {
	char ring[CTL_LOG_RING];
	uint64_t head;  /* bytes ever appended */
	uint64_t start; /* offset of the oldest record kept */
	struct ctl *c;
	struct loop_timer_id tick;
	bool ticking;
	struct log_reader {
		bool used;
		bool follow;
		bool blocked; /* waiting for API_EV_DRAINED */
		uint8_t min;  /* enum log_level */
		struct api_handle h;
		uint64_t off;  /* next record to send */
		size_t part;   /* bytes of that record's line already pushed */
		char mark[80]; /* a "skipped" line being pushed */
		size_t mark_len, mark_off;
	} rd[CTL_LOG_READERS];
} lg;

static uint8_t ring_at(uint64_t off)
{
	return (uint8_t)lg.ring[off % CTL_LOG_RING];
}

/* Length of the record at off (level byte, line, newline). */
static size_t rec_len(uint64_t off)
{
	size_t n = 1;
	while (off + n < lg.head && ring_at(off + n) != '\n')
		n++;
	return n + 1;
}

static void tap(void *ctx, enum log_level level, const char *line, size_t len)
{
	if (len == 0 || len + 1 > CTL_LOG_RING / 4)
		return;
	size_t need = len + 1;
	while (lg.head + need - lg.start > CTL_LOG_RING)
		lg.start += rec_len(lg.start);
	lg.ring[lg.head % CTL_LOG_RING] = (char)level;
	for (size_t i = 0; i < len; i++)
		lg.ring[(lg.head + 1 + i) % CTL_LOG_RING] = line[i];
	lg.head += need;
}

static void reader_free(struct log_reader *r)
{
	r->used = false;
}

size_t ctl_logs_read(uint64_t *off, size_t *part, uint8_t min, char *out, size_t cap,
		     uint64_t *skipped)
{
	size_t n = 0;
	*skipped = 0;
	if (*off < lg.start) { /* lapped by the ring: go on from the oldest line kept */
		*skipped = lg.start - *off;
		*off = lg.start;
		*part = 0;
	}
	while (n < cap && *off < lg.head) {
		size_t len = rec_len(*off);
		if (ring_at(*off) < min) {
			*off += len;
			*part = 0;
			continue;
		}
		size_t line = len - 1, take = line - *part;
		if (take > cap - n)
			take = cap - n;
		for (size_t i = 0; i < take; i++)
			out[n + i] = (char)ring_at(*off + 1 + *part + i);
		n += take;
		*part += take;
		if (*part == line) {
			*off += len;
			*part = 0;
		}
	}
	return n;
}

/* Push what r has not sent yet. Ends a non-follow stream once it is caught up. */
static void reader_kick(struct log_reader *r)
{
	struct ctl *c = lg.c;
	char chunk[1024];
	while (r->used && !r->blocked) {
		if (r->mark_off < r->mark_len) {
			ssize_t n = api_stream_push(&c->api, r->h, r->mark + r->mark_off,
						    r->mark_len - r->mark_off);
			if (n < 0) {
				reader_free(r);
				return;
			}
			r->mark_off += (size_t)n;
			if (r->mark_off < r->mark_len) {
				r->blocked = true;
				return;
			}
			continue;
		}
		/* Read without consuming: only what the server takes counts as sent. */
		uint64_t off = r->off, skipped;
		size_t part = r->part;
		size_t n = ctl_logs_read(&off, &part, r->min, chunk, sizeof chunk, &skipped);
		if (skipped) {
			r->mark_len = (size_t)snprintf(
				r->mark, sizeof r->mark,
				"... %llu bytes of log skipped (the reader was too slow)\n",
				(unsigned long long)skipped);
			r->mark_off = 0;
			r->off = lg.start; /* the oldest record kept */
			r->part = 0;
			continue;
		}
		if (n == 0) {
			r->off = off; /* past filtered-out lines */
			r->part = part;
			if (!r->follow) {
				api_stream_end(&c->api, r->h);
				reader_free(r);
			}
			return;
		}
		ssize_t w = api_stream_push(&c->api, r->h, chunk, n);
		if (w < 0) {
			reader_free(r);
			return;
		}
		/* Advance by the w bytes taken: read them again into nothing. */
		char sink[1024];
		uint64_t skip2;
		ctl_logs_read(&r->off, &r->part, r->min, sink, (size_t)w, &skip2);
		if ((size_t)w < n) {
			r->blocked = true;
			return;
		}
	}
}

static void tick_cb(struct loop *l, void *arg)
{
	bool any = false;
	for (int i = 0; i < CTL_LOG_READERS; i++)
		if (lg.rd[i].used) {
			reader_kick(&lg.rd[i]);
			any |= lg.rd[i].used;
		}
	lg.ticking = any && loop_timer_add(l, CTL_LOG_TICK_MS, tick_cb, NULL, &lg.tick) == 0;
}

static void reader_event(struct api_server *srv, struct api_handle h, enum api_event ev, void *arg)
{
	struct log_reader *r = arg;
	if (!r->used || r->h.seq != h.seq || r->h.conn.gen != h.conn.gen)
		return;
	if (ev == API_EV_CLOSED) {
		reader_free(r);
		return;
	}
	r->blocked = false;
	reader_kick(r);
}

int ctl_logs_get(struct api_req *req, struct api_resp *resp, void *arg)
{
	struct ctl *c = arg;
	char lv[16] = "", fw[8] = "";
	enum log_level min = LOG_DEBUG;
	if (api_req_query(req, "level", lv, sizeof lv) > 0 && log_level_parse(lv, &min) < 0)
		return api_resp_error(resp, 400, -ERR_INVAL,
				      "level: debug, info, warn or error, not \"%s\"", lv);
	api_req_query(req, "follow", fw, sizeof fw);
	struct log_reader *r = NULL;
	for (int i = 0; i < CTL_LOG_READERS && !r; i++)
		if (!lg.rd[i].used)
			r = &lg.rd[i];
	if (!r)
		return api_resp_error(resp, 503, -ERR_AGAIN, "%d log readers already; retry later",
				      CTL_LOG_READERS);
	memset(r, 0, sizeof *r);
	r->follow = !strcmp(fw, "true") || !strcmp(fw, "1");
	r->min = (uint8_t)min;
	r->off = lg.start;
	lg.c = c;
	resp->content_type = "text/plain";
	int rc = api_resp_stream(resp, &r->h);
	api_resp_on_event(resp, reader_event, r);
	r->used = true;
	reader_kick(r);
	if (r->used && r->follow && !lg.ticking)
		lg.ticking =
			loop_timer_add(&c->loop, CTL_LOG_TICK_MS, tick_cb, NULL, &lg.tick) == 0;
	return rc;
}

void ctl_logs_start(struct ctl *c)
{
	lg.c = c;
	log_set_tap(tap, NULL);
}

void ctl_logs_stop(void)
{
	log_set_tap(NULL, NULL);
	if (lg.ticking && lg.c)
		loop_timer_cancel(&lg.c->loop, lg.tick);
	lg.ticking = false;
	memset(lg.rd, 0, sizeof lg.rd);
}
