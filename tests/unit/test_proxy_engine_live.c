/* Live tests of the proxy engine: the engine runs on its own loop in a forked child
 * (commands over a socketpair: load a document, read a port, metrics, stats), an upstream
 * test server runs in another forked child (one thread per connection, behaviour chosen by
 * the request path, counters in shared memory), and the test talks to the proxy with plain
 * blocking sockets on 127.0.0.1 with receive timeouts, so nothing can hang. Every child is
 * killed by PID and reaped at the end of the case that started it.
 *
 * Covered: each status path (404, 503, 502 refused / reset / malformed, 504 connect and
 * response header, 400, 408, 413, 414, 431, 429, 403), keep-alive reuse on both sides,
 * pipelining, chunked bodies both ways, large bodies through small buffers, 100-continue,
 * HEAD / 204 / 304, WebSocket upgrade echo, X-Forwarded-* and hop-by-hop removal, HTTP/1.0
 * clients, redirects, health checks, the connection and header caps just under and just
 * over, buffer exhaustion and recovery, table swaps during a long request and a tunnel, TLS
 * termination with SNI and the default certificate, metrics and the access log.
 */
#include "base/base_err.h"
#include "base/base_log.h"
#include "base/base_rand.h"
#include "loop/loop.h"
#include "pki/pki_cert.h"
#include "pki/pki_key.h"
#include "pki/pki_pem.h"
#include "proxy/proxy_engine.h"
#include "proxy/proxy_standalone.h"
#include "proxy/proxy_engine_int.h"
#include "proxy/proxy_limits.h"
#include "tls/tls.h"
#include "test.h"

#include <arpa/inet.h>
#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A whole run never takes more than this: a hung case kills the binary (and, through
 * PR_SET_PDEATHSIG, every child) instead of a test runner waiting forever. */
__attribute__((constructor)) static void watchdog(void)
{
	alarm(120);
}

/* ---- small helpers --------------------------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	socklen_t len = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- upstream test server -----------------------------------------------------------------------
 */

struct up_shared {
	volatile int conns;    /* connections accepted */
	volatile int requests; /* requests read */
	volatile int health;   /* status /health answers */
	volatile int body_ok;  /* last echo body length */
	char last_head[8192];  /* the last request head received */
	volatile int last_head_len;
};

static struct up_shared *ush;

struct up_conn {
	int fd;
	int id;
	char buf[65536];
	size_t len;
};

static int up_fill(struct up_conn *u)
{
	if (u->len >= sizeof u->buf)
		return -1;
	ssize_t r = read(u->fd, u->buf + u->len, sizeof u->buf - u->len);
	if (r <= 0)
		return -1;
	u->len += (size_t)r;
	return 0;
}

static void up_consume(struct up_conn *u, size_t n)
{
	memmove(u->buf, u->buf + n, u->len - n);
	u->len -= n;
}

/* Body of the request into *out (malloc'd), by Content-Length or chunked. */
static long up_body(struct up_conn *u, const char *head, char **out)
{
	const char *cl = strcasestr(head, "\r\ncontent-length:");
	bool chunked = strcasestr(head, "\r\ntransfer-encoding: chunked") != NULL;
	size_t cap = 1 << 22, n = 0;
	char *b = malloc(cap);
	*out = b;
	if (cl) {
		size_t want = (size_t)strtoul(cl + 17, NULL, 10);
		while (u->len < want && n + u->len < want) {
			if (u->len) {
				memcpy(b + n, u->buf, u->len);
				n += u->len;
				u->len = 0;
			}
			if (up_fill(u) < 0)
				return -1;
		}
		size_t take = want - n;
		memcpy(b + n, u->buf, take);
		up_consume(u, take);
		return (long)want;
	}
	if (!chunked)
		return 0;
	for (;;) {
		char *eol;
		while (!(eol = memmem(u->buf, u->len, "\r\n", 2)))
			if (up_fill(u) < 0)
				return -1;
		size_t sz = (size_t)strtoul(u->buf, NULL, 16);
		up_consume(u, (size_t)(eol - u->buf) + 2);
		if (sz == 0) {
			/* trailer section until an empty line */
			for (;;) {
				while (!(eol = memmem(u->buf, u->len, "\r\n", 2)))
					if (up_fill(u) < 0)
						return -1;
				size_t ll = (size_t)(eol - u->buf);
				up_consume(u, ll + 2);
				if (ll == 0)
					return (long)n;
			}
		}
		while (u->len < sz + 2)
			if (up_fill(u) < 0)
				return -1;
		memcpy(b + n, u->buf, sz);
		n += sz;
		up_consume(u, sz + 2);
	}
}

static void up_send(struct up_conn *u, const char *s)
{
	write_all(u->fd, s, strlen(s));
}

static void *up_thread(void *arg)
{
	struct up_conn *u = arg;
	for (;;) {
		char *end;
		while (!(end = memmem(u->buf, u->len, "\r\n\r\n", 4)))
			if (up_fill(u) < 0)
				goto out;
		size_t hl = (size_t)(end - u->buf) + 4;
		char head[16384];
		size_t cp = hl < sizeof head - 1 ? hl : sizeof head - 1;
		memcpy(head, u->buf, cp);
		head[cp] = 0;
		up_consume(u, hl);
		__sync_fetch_and_add(&ush->requests, 1);
		size_t sh = cp < sizeof ush->last_head - 1 ? cp : sizeof ush->last_head - 1;
		memcpy(ush->last_head, head, sh);
		ush->last_head[sh] = 0;
		ush->last_head_len = (int)sh;
		char method[16] = {0}, path[4096] = {0};
		sscanf(head, "%15s %4095s", method, path);
		bool is_head = strcmp(method, "HEAD") == 0;
		char *qm = strchr(path, '?');
		if (qm && strcmp(path, "/headers") != 0)
			*qm = 0; /* dispatch on the path alone */
		char out[8192];
		if (strncmp(path, "/echo", 5) == 0) {
			if (strcasestr(head, "\r\nexpect: 100-continue"))
				up_send(u, "HTTP/1.1 100 Continue\r\n\r\n");
			char *body;
			long n = up_body(u, head, &body);
			if (n < 0) {
				free(body);
				goto out;
			}
			ush->body_ok = (int)n;
			if (strncmp(path, "/echo-chunked", 13) == 0) {
				up_send(u, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
				for (long off = 0; off < n; off += 1000) {
					long k = n - off < 1000 ? n - off : 1000;
					snprintf(out, sizeof out, "%lx\r\n", k);
					up_send(u, out);
					write_all(u->fd, body + off, (size_t)k);
					up_send(u, "\r\n");
				}
				up_send(u, "0\r\n\r\n");
			} else {
				snprintf(out, sizeof out,
					 "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", n);
				up_send(u, out);
				write_all(u->fd, body, (size_t)n);
			}
			free(body);
			continue;
		}
		char *body;
		long bn = up_body(u, head, &body); /* drain any request body */
		free(body);
		if (bn < 0)
			goto out;
		if (strcmp(path, "/hello") == 0 || strncmp(path, "/app", 4) == 0 ||
		    strncmp(path, "/v", 2) == 0) {
			const char *v = strncmp(path, "/v2", 3) == 0 ? "two" : "hello";
			snprintf(out, sizeof out,
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nX-Up: 1\r\n\r\n%s",
				 strlen(v), is_head ? "" : v);
			up_send(u, out);
		} else if (strcmp(path, "/chunked") == 0) {
			up_send(u, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				   "3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n");
		} else if (strncmp(path, "/big/", 5) == 0) {
			size_t n = (size_t)strtoul(path + 5, NULL, 10);
			snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
				 n);
			up_send(u, out);
			if (!is_head) {
				char *b = malloc(n ? n : 1);
				for (size_t i = 0; i < n; i++)
					b[i] = (char)('a' + i % 26);
				write_all(u->fd, b, n);
				free(b);
			}
		} else if (strcmp(path, "/204") == 0) {
			up_send(u, "HTTP/1.1 204 No Content\r\nX-Up: 1\r\n\r\n");
		} else if (strcmp(path, "/304") == 0) {
			up_send(u, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "
				   "\"x\"\r\n\r\n");
		} else if (strncmp(path, "/slow/", 6) == 0) {
			sleep_ms((unsigned)strtoul(path + 6, NULL, 10));
			up_send(u, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow");
		} else if (strcmp(path, "/reset") == 0) {
			struct linger lg = {1, 0};
			setsockopt(u->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			goto out;
		} else if (strcmp(path, "/garbage") == 0) {
			up_send(u, "HTTP/1.1 abc\r\n\r\n");
			goto out;
		} else if (strcmp(path, "/badchunk") == 0) {
			up_send(u, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
			goto out;
		} else if (strcmp(path, "/ws") == 0) {
			up_send(u, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\n\r\n");
			if (u->len)
				write_all(u->fd, u->buf, u->len);
			char b[4096];
			for (;;) {
				ssize_t r = read(u->fd, b, sizeof b);
				if (r <= 0)
					break;
				write_all(u->fd, b, (size_t)r);
			}
			goto out;
		} else if (strcmp(path, "/headers") == 0) {
			snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
				 strlen(head));
			up_send(u, out);
			up_send(u, head);
		} else if (strcmp(path, "/close") == 0) {
			up_send(u, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: "
				   "close\r\n\r\nok");
			goto out;
		} else if (strcmp(path, "/eofbody") == 0) {
			up_send(u, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close");
			goto out;
		} else if (strcmp(path, "/health") == 0) {
			snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n",
				 ush->health);
			up_send(u, out);
		} else if (strncmp(path, "/drip/", 6) == 0) {
			unsigned n = 0, ms = 0;
			sscanf(path + 6, "%u/%u", &n, &ms);
			snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
				 n * 10);
			up_send(u, out);
			for (unsigned i = 0; i < n; i++) {
				if (write_all(u->fd, "0123456789", 10) < 0)
					goto out;
				sleep_ms(ms);
			}
		} else if (strcmp(path, "/conn") == 0) {
			char id[16];
			snprintf(id, sizeof id, "%d", u->id);
			snprintf(out, sizeof out,
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(id),
				 id);
			up_send(u, out);
		} else if (strcmp(path, "/idle-close") == 0) {
			up_send(u, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
			sleep_ms(50);
			goto out; /* closes a keep-alive connection the proxy pooled */
		} else if (strcmp(path, "/interim") == 0) {
			up_send(u, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
				   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
		} else {
			up_send(u, "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope");
		}
	}
out:
	close(u->fd);
	free(u);
	return NULL;
}

static pid_t up_pid;
static int up_port;

static void up_stop(void);

static void up_start(void)
{
	up_stop();
	if (!ush) {
		ush = mmap(NULL, sizeof *ush, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			   -1, 0);
	}
	memset((void *)ush, 0, sizeof *ush);
	ush->health = 200;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(lfd, (struct sockaddr *)&a, sizeof a);
	listen(lfd, 512);
	socklen_t len = sizeof a;
	getsockname(lfd, (struct sockaddr *)&a, &len);
	up_port = ntohs(a.sin_port);
	up_pid = fork();
	if (up_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		signal(SIGPIPE, SIG_IGN);
		for (;;) {
			int fd = accept(lfd, NULL, NULL);
			if (fd < 0)
				continue;
			struct up_conn *u = calloc(1, sizeof *u);
			u->fd = fd;
			u->id = __sync_add_and_fetch(&ush->conns, 1);
			struct timeval tv = {10, 0};
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
			pthread_t th;
			pthread_attr_t at;
			pthread_attr_init(&at);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			pthread_attr_setstacksize(&at, 1 << 20);
			if (pthread_create(&th, &at, up_thread, u) != 0) {
				close(fd);
				free(u);
			}
			pthread_attr_destroy(&at);
		}
	}
	close(lfd);
}

static void up_stop(void)
{
	if (up_pid > 0) {
		kill(up_pid, SIGKILL);
		waitpid(up_pid, NULL, 0);
	}
	up_pid = 0;
}

/* ---- the proxy in a child -----------------------------------------------------------------------
 */

struct px {
	pid_t pid;
	int ctl;
	int port;  /* entry point "web" */
	int port2; /* entry point "alt" (when configured) */
};

static struct px px;

static int ctl_reply(int fd, char *out, size_t cap, uint32_t *len_out)
{
	int32_t rc;
	uint32_t len;
	if (read_full(fd, &rc, 4) < 0 || read_full(fd, &len, 4) < 0)
		return -9999;
	char *tmp = malloc(len + 1);
	if (read_full(fd, tmp, len) < 0) {
		free(tmp);
		return -9999;
	}
	size_t n = len < cap - 1 ? len : cap - 1;
	if (out) {
		memcpy(out, tmp, n);
		out[n] = 0;
	}
	if (len_out)
		*len_out = len;
	free(tmp);
	return rc;
}

static void ctl_send(int fd, char cmd, const void *p, uint32_t len)
{
	write_all(fd, &cmd, 1);
	write_all(fd, &len, 4);
	if (len)
		write_all(fd, p, len);
}

static void ctl_answer(int fd, int32_t rc, const void *p, uint32_t len)
{
	write_all(fd, &rc, 4);
	write_all(fd, &len, 4);
	if (len)
		write_all(fd, p, len);
}

struct child {
	struct loop loop;
	struct proxy_engine *eng;
	int ctl;
};

static void child_ctl(struct loop *l, int fd, uint32_t ev, void *arg)
{
	struct child *ch = arg;
	char cmd;
	uint32_t len;
	if (read_full(fd, &cmd, 1) < 0 || read_full(fd, &len, 4) < 0) {
		loop_del_fd(l, fd);
		loop_stop(l);
		return;
	}
	char *p = malloc(len + 1);
	read_full(fd, p, len);
	p[len] = 0;
	if (cmd == 'L') {
		char msg[512];
		msg[0] = 0;
		int rc = proxy_engine_load(ch->eng, p, len, msg, sizeof msg);
		ctl_answer(fd, rc, msg, (uint32_t)strlen(msg));
	} else if (cmd == 'P') {
		ctl_answer(fd, proxy_engine_listen_port(ch->eng, p), NULL, 0);
	} else if (cmd == 'M') {
		size_t cap = 1 << 20;
		char *t = malloc(cap);
		struct buf b;
		buf_init(&b, t, cap);
		int rc = proxy_engine_metrics_text(ch->eng, &b);
		ctl_answer(fd, rc, t, (uint32_t)b.len);
		free(t);
	} else if (cmd == 'S') {
		struct proxy_engine_stats st;
		proxy_engine_get_stats(ch->eng, &st);
		ctl_answer(fd, 0, &st, sizeof st);
	} else if (cmd == 'F') {
		/* fault injection: the next get from the named pool fails */
		struct proxy_engine *e = ch->eng;
		if (p[0] == 'c')
			e->conns.fail_after = 0;
		else if (p[0] == 'u')
			e->ups.fail_after = 0;
		else if (p[0] == 'b')
			e->bufs.fail_after = 0;
		else if (p[0] == 'l')
			e->large.fail_after = 0;
		ctl_answer(fd, 0, NULL, 0);
	} else if (cmd == 'Q') {
		ctl_answer(fd, 0, NULL, 0);
		proxy_engine_shutdown(ch->eng);
	}
	free(p);
}

static int64_t fixed_wall(void *ctx)
{
	(void)ctx;
	return 1700000000123LL;
}

/* Start the engine in a child with these limits, load doc. Returns the load result. */
static void px_stop(void);

static int px_start(const struct proxy_dp_limits *lim, const char *doc, int al_fd)
{
	px_stop();
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	px.pid = fork();
	if (px.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
		log_set_level(LOG_ERROR);
		close(sv[0]);
		signal(SIGPIPE, SIG_IGN);
		struct child *ch = calloc(1, sizeof *ch);
		struct loop_config lc = {.max_fds = lim->max_conns + lim->max_upstream_conns + 64,
					 .max_timers =
						 lim->max_conns + lim->max_upstream_conns + 256,
					 .max_events = 256};
		if (loop_init(&ch->loop, &lc) < 0)
			_exit(3);
		struct proxy_engine_config cfg = {0};
		cfg.loop = &ch->loop;
		cfg.lim = lim;
		cfg.access_log_fd = al_fd;
		cfg.server_name = "px-test";
		cfg.wall_ms = fixed_wall;
		char msg[256];
		int rc = proxy_engine_create(&cfg, &ch->eng, msg, sizeof msg);
		if (rc < 0) {
			ctl_answer(sv[1], rc, msg, (uint32_t)strlen(msg));
			_exit(4);
		}
		msg[0] = 0;
		rc = proxy_engine_load(ch->eng, doc, strlen(doc), msg, sizeof msg);
		ctl_answer(sv[1], rc, msg, (uint32_t)strlen(msg));
		loop_add_fd(&ch->loop, sv[1], LOOP_READ, child_ctl, ch);
		loop_run(&ch->loop);
		proxy_engine_destroy(ch->eng);
		loop_fini(&ch->loop);
		free(ch);
		_exit(0);
	}
	close(sv[1]);
	px.ctl = sv[0];
	struct timeval tv = {10, 0};
	setsockopt(px.ctl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char msg[512];
	int rc = ctl_reply(px.ctl, msg, sizeof msg, NULL);
	if (rc < 0)
		fprintf(stderr, "  proxy start: %d %s\n", rc, msg);
	return rc;
}

static void px_stop(void)
{
	if (px.pid > 0) {
		kill(px.pid, SIGKILL);
		waitpid(px.pid, NULL, 0);
		close(px.ctl);
	}
	px.pid = 0;
}

static int px_load(const char *doc, char *msg, size_t cap)
{
	ctl_send(px.ctl, 'L', doc, (uint32_t)strlen(doc));
	return ctl_reply(px.ctl, msg, cap, NULL);
}

static struct proxy_engine_stats px_stats(void)
{
	struct proxy_engine_stats st;
	memset(&st, 0, sizeof st);
	ctl_send(px.ctl, 'S', NULL, 0);
	char buf[sizeof st + 1];
	uint32_t len = 0;
	int32_t rc;
	if (read_full(px.ctl, &rc, 4) == 0 && read_full(px.ctl, &len, 4) == 0 && len == sizeof st)
		read_full(px.ctl, buf, len), memcpy(&st, buf, sizeof st);
	return st;
}

static char *px_metrics(void)
{
	ctl_send(px.ctl, 'M', NULL, 0);
	static char text[1 << 20];
	ctl_reply(px.ctl, text, sizeof text, NULL);
	return text;
}

/* ---- routing documents --------------------------------------------------------------------------
 */

static void lim_test(struct proxy_dp_limits *lim)
{
	proxy_dp_limits_default(lim);
	lim->max_conns = 64;
	lim->max_tls_conns = 16;
	lim->max_upstream_conns = 64;
	lim->max_bufs = 64;
	lim->max_large_bufs = 4;
	lim->max_targets = 16;
	lim->max_health_checks = 8;
	lim->max_metric_series = 512;
	lim->max_metric_names = 128;
	lim->max_tables = 4;
	lim->max_conn_keys = 16;
	lim->table.max_entrypoints = 4;
	lim->table.max_frontends = 32;
	lim->table.max_backends = 32;
	lim->table.max_servers = 64;
	lim->table.max_routes = 64;
	lim->table.max_matchers = 256;
	lim->table.max_regex_insts = 1024;
	lim->table.max_certs = 8;
	lim->table.max_list_items = 256;
	lim->table.max_tokens = 4096;
	lim->table.max_doc_bytes = 64 << 10;
	lim->table.max_cert_bytes = 32 << 10;
	lim->connect_timeout_ms = 500;
	lim->response_header_timeout_ms = 600;
	lim->client_header_timeout_ms = 400;
	lim->client_body_timeout_ms = 400;
	lim->upstream_read_timeout_ms = 2000;
	lim->health_interval_ms = 200;
	lim->health_timeout_ms = 200;
}

/* A document: entry point web on port, frontends by path prefix. extra_fe / extra_be are
 * appended JSON members (may be ""). */
static char *doc_make(int port, const char *extra_ep, const char *extra_fe, const char *extra_be)
{
	char *d = malloc(1 << 16);
	snprintf(
		d, 1 << 16,
		"{\"version\":1,\"revision\":1,\"defaultEntryPoints\":[\"web\"],"
		"\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%d\"}%s},"
		"\"frontends\":{"
		"\"main\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/\"}}},"
		"\"strip\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefixStrip:/"
		"api\"}}},"
		"\"host404\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"Host:only.test\"}},"
		"\"priority\":1}%s},"
		"\"backends\":{\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%d\"}}}%s}}",
		port, extra_ep, extra_fe, up_port, extra_be);
	return d;
}

static bool setup(const struct proxy_dp_limits *lim, const char *ep, const char *fe, const char *be)
{
	up_start();
	px.port = free_port();
	char *d = doc_make(px.port, ep, fe, be);
	int rc = px_start(lim, d, -1);
	free(d);
	if (rc < 0) {
		px_stop();
		up_stop();
		return false;
	}
	return true;
}

static void teardown(void)
{
	px_stop();
	up_stop();
}

/* ---- client -------------------------------------------------------------------------------------
 */

struct cl {
	int fd;
	char buf[1 << 16];
	size_t len;
};

struct resp {
	int status;
	int minor;
	char head[16384];
	char *body;
	size_t body_len;
	bool closed; /* the connection ended after the response */
	bool chunked;
};

static int cl_open(struct cl *c, int port)
{
	memset(c, 0, sizeof *c);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {5, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (int i = 0; i < 50; i++) {
		if (connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0)
			return 0;
		sleep_ms(20);
		close(c->fd);
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	return -1;
}

static void cl_close(struct cl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int cl_send(struct cl *c, const char *s)
{
	return write_all(c->fd, s, strlen(s));
}

static int cl_more(struct cl *c)
{
	if (c->len == sizeof c->buf)
		return -1;
	ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	return 0;
}

static void cl_eat(struct cl *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static const char *hdr_get(const char *head, const char *name, char *out, size_t cap)
{
	char pat[128];
	snprintf(pat, sizeof pat, "\r\n%s:", name);
	const char *p = strcasestr(head, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	size_t n = 0;
	while (p[n] && p[n] != '\r' && n < cap - 1)
		n++;
	memcpy(out, p, n);
	out[n] = 0;
	return out;
}

static void resp_free(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* Read one response (interim 1xx responses are skipped). -1 on timeout / close. */
static int cl_response(struct cl *c, struct resp *r, bool head_req)
{
	memset(r, 0, sizeof *r);
	for (;;) {
		char *end;
		while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
			if (cl_more(c) < 0)
				return -1;
		size_t hl = (size_t)(end - c->buf) + 4;
		size_t cp = hl < sizeof r->head - 1 ? hl : sizeof r->head - 1;
		memcpy(r->head, c->buf, cp);
		r->head[cp] = 0;
		cl_eat(c, hl);
		if (sscanf(r->head, "HTTP/1.%d %d", &r->minor, &r->status) != 2)
			return -1;
		if (r->status >= 100 && r->status < 200 && r->status != 101)
			continue;
		break;
	}
	char v[64];
	size_t cap = 1 << 22;
	r->body = malloc(cap);
	if (head_req || r->status == 204 || r->status == 304 || r->status == 101)
		return 0;
	if (hdr_get(r->head, "Content-Length", v, sizeof v)) {
		size_t want = (size_t)strtoul(v, NULL, 10);
		while (c->len < want && r->body_len + c->len < want) {
			memcpy(r->body + r->body_len, c->buf, c->len);
			r->body_len += c->len;
			c->len = 0;
			if (cl_more(c) < 0)
				return -1;
		}
		size_t take = want - r->body_len;
		memcpy(r->body + r->body_len, c->buf, take);
		r->body_len += take;
		cl_eat(c, take);
		return 0;
	}
	if (hdr_get(r->head, "Transfer-Encoding", v, sizeof v)) {
		r->chunked = true;
		for (;;) {
			char *eol;
			while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
				if (cl_more(c) < 0)
					return -1;
			size_t sz = (size_t)strtoul(c->buf, NULL, 16);
			cl_eat(c, (size_t)(eol - c->buf) + 2);
			if (sz == 0) {
				for (;;) {
					while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
						if (cl_more(c) < 0)
							return -1;
					size_t ll = (size_t)(eol - c->buf);
					cl_eat(c, ll + 2);
					if (ll == 0)
						return 0;
				}
			}
			while (c->len < sz + 2)
				if (cl_more(c) < 0)
					return -1;
			memcpy(r->body + r->body_len, c->buf, sz);
			r->body_len += sz;
			cl_eat(c, sz + 2);
		}
	}
	/* until close */
	for (;;) {
		memcpy(r->body + r->body_len, c->buf, c->len);
		r->body_len += c->len;
		c->len = 0;
		if (cl_more(c) < 0)
			break;
	}
	r->closed = true;
	return 0;
}

/* true when the peer closed (EOF or reset) within ms. */
static bool cl_closed(struct cl *c, unsigned ms)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	uint64_t until = mono_ms() + ms;
	while (mono_ms() < until) {
		if (poll(&pfd, 1, 50) > 0) {
			char b[4096];
			ssize_t r = read(c->fd, b, sizeof b);
			if (r <= 0)
				return true;
		}
	}
	return false;
}

/* One request on a fresh connection. */
static int get1(int port, const char *req, struct resp *r)
{
	struct cl *c = malloc(sizeof *c);
	if (cl_open(c, port) < 0) {
		free(c);
		return -1;
	}
	cl_send(c, req);
	int rc = cl_response(c, r, strncmp(req, "HEAD", 4) == 0);
	cl_close(c);
	free(c);
	return rc;
}

static int get_status(int port, const char *path)
{
	char req[4096];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x.test\r\n\r\n", path);
	struct resp r;
	int rc = get1(port, req, &r);
	resp_free(&r);
	return rc < 0 ? rc : r.status;
}

/* The status of path, polled until it is `want` or ms pass (health checks take a round). */
static int wait_status(int port, const char *path, int want, unsigned ms)
{
	uint64_t until = mono_ms() + ms;
	int st;
	do {
		st = get_status(port, path);
		if (st == want)
			break;
		sleep_ms(50);
	} while (mono_ms() < until);
	return st;
}

/* ---- tests: basics
 * -------------------------------------------------------------------------------- */

static void basic_get(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct resp r;
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_MEM(r.body, r.body_len, "hello");
	char v[64];
	CHECK(hdr_get(r.head, "X-Up", v, sizeof v) != NULL);
	resp_free(&r);
	teardown();
}

static void keepalive_both_sides(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	for (int i = 0; i < 20; i++) {
		cl_send(c, "GET /conn HTTP/1.1\r\nHost: a\r\n\r\n");
		struct resp r;
		CHECK_EQ_INT(cl_response(c, &r, false), 0);
		CHECK_EQ_INT(r.status, 200);
		CHECK_EQ_MEM(r.body, r.body_len, "1"); /* always the first upstream connection */
		resp_free(&r);
	}
	/* a second client reuses the same idle upstream connection */
	struct resp r;
	CHECK_EQ_INT(get1(px.port, "GET /conn HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "1");
	resp_free(&r);
	CHECK_EQ_INT(ush->conns, 1);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.upstream_connects, 1);
	CHECK(st.upstream_reused >= 20);
	cl_close(c);
	free(c);
	teardown();
}

static void pipelined_requests(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET /chunked HTTP/1.1\r\nHost: a\r\n\r\n"
		   "GET /v2 HTTP/1.1\r\nHost: a\r\n\r\n");
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "hello");
	resp_free(&r);
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "abcdefg");
	resp_free(&r);
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "two");
	resp_free(&r);
	cl_close(c);
	free(c);
	teardown();
}

static void status_404_no_route(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	up_start();
	px.port = free_port();
	char d[1024];
	snprintf(d, sizeof d,
		 "{\"version\":1,\"revision\":1,\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%"
		 "d\"}},"
		 "\"defaultEntryPoints\":[\"web\"],"
		 "\"frontends\":{\"f\":{\"backend\":\"b\",\"routes\":{\"r\":{\"rule\":\"Host:only."
		 "test\"}}}},"
		 "\"backends\":{\"b\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}}}}}",
		 px.port, up_port);
	REQUIRE(px_start(&lim, d, -1) == 0);
	struct resp r;
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\nHost: other.test\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 404);
	CHECK_EQ_MEM(r.body, r.body_len, "404 page not found\n");
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\nHost: only.test\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	/* 404 keeps the connection alive: a second request on it works */
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "GET / HTTP/1.1\r\nHost: nope\r\n\r\nGET /hello HTTP/1.1\r\nHost: "
		   "only.test\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 404);
	resp_free(&r);
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	cl_close(c);
	free(c);
	teardown();
}

static void status_502_refused_reset_malformed(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	int dead = free_port();
	char be[256];
	snprintf(be, sizeof be, ",\"dead\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}}}",
		 dead);
	REQUIRE(setup(
		&lim, "",
		",\"dead\":{\"backend\":\"dead\",\"routes\":{\"r\":{\"rule\":\"Path:/dead\"}},"
		"\"priority\":100}",
		be));
	CHECK_EQ_INT(get_status(px.port, "/dead"), 502);
	CHECK_EQ_INT(get_status(px.port, "/reset"), 502);
	CHECK_EQ_INT(get_status(px.port, "/garbage"), 502);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200); /* and everything still works */
	/* bad chunked framing mid-body: the client connection is cut (head already sent) */
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "GET /badchunk HTTP/1.1\r\nHost: a\r\n\r\n");
	struct resp r;
	cl_response(c, &r, false);
	resp_free(&r);
	CHECK(cl_closed(c, 2000));
	cl_close(c);
	free(c);
	teardown();
}

static void status_504_response_header_timeout(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(get_status(px.port, "/slow/1500"), 504);
	uint64_t dt = mono_ms() - t0;
	CHECK(dt >= 550 && dt < 3000); /* response_header_timeout 600 ms (slack for busy hosts) */
	CHECK_EQ_INT(get_status(px.port, "/slow/100"), 200);
	teardown();
}

static void status_504_connect_timeout(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	/* A listener whose accept queue is full: new SYNs are dropped, connect() hangs. */
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(lfd, (struct sockaddr *)&a, sizeof a);
	listen(lfd, 0);
	socklen_t len = sizeof a;
	getsockname(lfd, (struct sockaddr *)&a, &len);
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&a, sizeof a);
	}
	sleep_ms(50);
	char be[256];
	snprintf(be, sizeof be, ",\"hang\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}}}",
		 ntohs(a.sin_port));
	REQUIRE(setup(
		&lim, "",
		",\"hang\":{\"backend\":\"hang\",\"routes\":{\"r\":{\"rule\":\"Path:/hang\"}},"
		"\"priority\":100}",
		be));
	uint64_t t0 = mono_ms();
	int st = get_status(px.port, "/hang");
	uint64_t dt = mono_ms() - t0;
	/* Some kernels still complete the handshake (syncookies): then the response header
	 * timeout gives 504 as well. Either way: 504, bounded. */
	CHECK_EQ_INT(st, 504);
	CHECK(dt >= 450 && dt < 3000);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
	teardown();
}

static void status_503_no_healthy_server(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	char be[512];
	snprintf(be, sizeof be,
		 ",\"hc\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}},"
		 "\"healthCheck\":{\"path\":\"/"
		 "health\",\"interval\":\"100ms\",\"timeout\":\"100ms\"}}",
		 0);
	up_start();
	snprintf(be, sizeof be,
		 ",\"hc\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}},"
		 "\"healthCheck\":{\"path\":\"/"
		 "health\",\"interval\":\"100ms\",\"timeout\":\"100ms\"}}",
		 up_port);
	px.port = free_port();
	char *d = doc_make(
		px.port, "",
		",\"hc\":{\"backend\":\"hc\",\"routes\":{\"r\":{\"rule\":\"Path:/hello\"}},"
		"\"priority\":100}",
		be);
	REQUIRE(px_start(&lim, d, -1) == 0);
	free(d);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	ush->health = 500;
	CHECK_EQ_INT(wait_status(px.port, "/hello", 503, 3000), 503);
	char *m = px_metrics();
	CHECK(strstr(m, "traefik_backend_server_up{backend=\"hc\",url=\"http://127.0.0.1:") !=
	      NULL);
	ush->health = 200;
	CHECK_EQ_INT(wait_status(px.port, "/hello", 200, 3000), 200); /* back in rotation */
	teardown();
}

/* ---- tests: client errors and caps
 * ---------------------------------------------------------------- */

static void status_400_malformed(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct resp r;
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\nHost : a\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 400);
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port,
			  "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			  &r),
		     0);
	CHECK_EQ_INT(r.status, 400); /* CL + TE: refused, never forwarded */
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 400); /* no Host */
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/2.0\r\nHost: a\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 505);
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", &r),
		     0);
	CHECK_EQ_INT(r.status, 417);
	resp_free(&r);
	CHECK_EQ_INT(ush->requests, 0); /* nothing reached the upstream */
	teardown();
}

static void status_408_slow_client(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	uint64_t t0 = mono_ms();
	cl_send(c, "GET /hello HTTP/1.1\r\nHo");
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	uint64_t dt = mono_ms() - t0;
	CHECK_EQ_INT(r.status, 408);
	CHECK(dt >= 350 && dt < 3000); /* client_header_timeout 400 ms */
	resp_free(&r);
	CHECK(cl_closed(c, 3000));
	cl_close(c);
	/* slow body: head complete, body never comes */
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 408);
	resp_free(&r);
	cl_close(c);
	/* an idle connection that never sends a byte is closed quietly */
	REQUIRE(cl_open(c, px.port) == 0);
	CHECK(cl_closed(c, 2000));
	cl_close(c);
	free(c);
	teardown();
}

static void status_413_body_too_large(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.max_body = 100;
	REQUIRE(setup(&lim, "", "", ""));
	struct resp r;
	char req[512];
	snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n");
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 413);
	resp_free(&r);
	/* just under */
	char body[101];
	memset(body, 'x', 100);
	body[100] = 0;
	char big[1024];
	snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n%s",
		 body);
	CHECK_EQ_INT(get1(px.port, big, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.body_len, 100);
	resp_free(&r);
	/* chunked over the limit: refused once the decoder counts past it */
	snprintf(big, sizeof big,
		 "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n%sx\r\n"
		 "0\r\n\r\n",
		 body);
	CHECK_EQ_INT(get1(px.port, big, &r), 0);
	CHECK_EQ_INT(r.status, 413);
	resp_free(&r);
	teardown();
}

static void status_414_431_head_caps(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.max_line = 1024;
	lim.max_header_bytes = 2048;
	lim.buf_size = 4096;
	REQUIRE(setup(&lim, "", "", ""));
	char *req = malloc(1 << 16), *pad = malloc(1 << 16);
	struct resp r;
	/* request line: "GET " + target + " HTTP/1.1" = max_line is fine, one more is 414 */
	size_t tl = 1024 - 4 - 9;
	memset(pad, 'a', tl);
	pad[0] = '/';
	pad[tl] = 0;
	snprintf(req, 1 << 16, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", pad);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 404); /* forwarded: the upstream's own 404 for that path */
	resp_free(&r);
	pad[tl] = 'a';
	pad[tl + 1] = 0;
	snprintf(req, 1 << 16, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", pad);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 414);
	resp_free(&r);
	/* header section: "Host: a\r\n" (9) + "X: <v>\r\n" + final CRLF (2) */
	size_t vl = 2048 - 9 - 2 - 5;
	memset(pad, 'v', vl);
	pad[vl] = 0;
	snprintf(req, 1 << 16, "GET /hello HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", pad);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	pad[vl] = 'v';
	pad[vl + 1] = 0;
	snprintf(req, 1 << 16, "GET /hello HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", pad);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 431);
	resp_free(&r);
	/* a head larger than one streaming buffer (4 KiB) moves to a large buffer */
	lim.max_header_bytes = 2048;
	free(req);
	free(pad);
	teardown();
}

static void large_head_buffer(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.buf_size = 4096;
	lim.max_header_bytes = 16384;
	lim.max_large_bufs = 2; /* the raw head and its rewritten copy */
	REQUIRE(setup(&lim, "", "", ""));
	char *req = malloc(1 << 16), *pad = malloc(1 << 16);
	memset(pad, 'h', 9000);
	pad[9000] = 0;
	snprintf(req, 1 << 16, "GET /headers HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", pad);
	struct resp r;
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.body_len > 9000);
	CHECK(r.body && memmem(r.body, r.body_len, pad, 9000) != NULL);
	resp_free(&r);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.large_used, 0); /* given back */
	/* a head that fills a streaming buffer exactly, its body sent after: the buffer grows */
	const char *fmt = "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX: %s\r\n\r\n";
	size_t fixed = strlen(fmt) - 2;
	memset(pad, 'p', 4096 - fixed);
	pad[4096 - fixed] = 0;
	snprintf(req, 1 << 16, fmt, pad);
	CHECK_EQ_INT(strlen(req), 4096);
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, req);
	sleep_ms(50);
	cl_send(c, "hello");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_MEM(r.body, r.body_len, "hello");
	resp_free(&r);
	cl_close(c);
	free(c);
	free(req);
	free(pad);
	teardown();
}

static void cap_max_conns(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.max_conns = 3;
	lim.max_tls_conns = 3;
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = calloc(4, sizeof *c);
	/* just under: three connections, each gets answers */
	for (int i = 0; i < 3; i++) {
		REQUIRE(cl_open(&c[i], px.port) == 0);
		cl_send(&c[i], "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
		struct resp r;
		CHECK_EQ_INT(cl_response(&c[i], &r, false), 0);
		CHECK_EQ_INT(r.status, 200);
		resp_free(&r);
	}
	/* just over: the fourth is queued by the kernel, not served... */
	REQUIRE(cl_open(&c[3], px.port) == 0);
	cl_send(&c[3], "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	struct pollfd pfd = {c[3].fd, POLLIN, 0};
	CHECK_EQ_INT(poll(&pfd, 1, 300), 0);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.conns, 3);
	CHECK(st.conns_refused_paused >= 1);
	/* ...until one closes: then it is accepted and answered */
	cl_close(&c[0]);
	struct resp r;
	CHECK_EQ_INT(cl_response(&c[3], &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	for (int i = 1; i < 4; i++)
		cl_close(&c[i]);
	free(c);
	teardown();
}

static void cap_buffers_wait_and_recover(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.max_bufs = 2; /* one request at a time */
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	REQUIRE(cl_open(a, px.port) == 0);
	REQUIRE(cl_open(b, px.port) == 0);
	cl_send(a, "GET /slow/300 HTTP/1.1\r\nHost: a\r\n\r\n");
	sleep_ms(50);
	cl_send(b, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	struct resp r;
	CHECK_EQ_INT(cl_response(b, &r, false), 0); /* waits for a's buffers, then runs */
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	CHECK_EQ_INT(cl_response(a, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	struct proxy_engine_stats st = px_stats();
	CHECK(st.buf_waits >= 1);
	CHECK_EQ_INT(st.bufs_used, 0);
	cl_close(a);
	cl_close(b);
	free(a);
	free(b);
	teardown();
}

static void status_429_maxconn(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	char be[256];
	up_start();
	snprintf(be, sizeof be,
		 ",\"one\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}},"
		 "\"maxConn\":{\"amount\":1,\"extractorFunc\":\"request.host\"}}",
		 up_port);
	px.port = free_port();
	char *d = doc_make(
		px.port, "",
		",\"one\":{\"backend\":\"one\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/slow\"}},"
		"\"priority\":100}",
		be);
	REQUIRE(px_start(&lim, d, -1) == 0);
	free(d);
	struct cl *a = malloc(sizeof *a);
	REQUIRE(cl_open(a, px.port) == 0);
	cl_send(a, "GET /slow/300 HTTP/1.1\r\nHost: x.test\r\n\r\n");
	sleep_ms(80);
	CHECK_EQ_INT(get_status(px.port, "/slow/1"), 429); /* same Host: the maxConn key */
	struct resp r;
	CHECK_EQ_INT(cl_response(a, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	CHECK_EQ_INT(get_status(px.port, "/slow/1"), 200); /* released */
	cl_close(a);
	free(a);
	teardown();
}

static void cap_upstream_conns(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.max_upstream_conns = 1;
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *a = malloc(sizeof *a);
	REQUIRE(cl_open(a, px.port) == 0);
	cl_send(a, "GET /slow/300 HTTP/1.1\r\nHost: a\r\n\r\n");
	sleep_ms(80);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 503); /* just over: refused cleanly */
	struct resp r;
	CHECK_EQ_INT(cl_response(a, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200); /* just under: the idle one is reused */
	cl_close(a);
	free(a);
	teardown();
}

static void fault_injection_recovers(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.buf_size = 4096;
	REQUIRE(setup(&lim, "", "", ""));
	/* a failed upstream pool get is retried once after giving up an idle connection */
	ctl_send(px.ctl, 'F', "u", 1);
	ctl_reply(px.ctl, NULL, 0, NULL);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	/* buffers: the request waits its turn instead of failing */
	ctl_send(px.ctl, 'F', "b", 1);
	ctl_reply(px.ctl, NULL, 0, NULL);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	/* connection slot: that connection is closed at once, the next one is served */
	ctl_send(px.ctl, 'F', "c", 1);
	ctl_reply(px.ctl, NULL, 0, NULL);
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	CHECK(cl_closed(c, 2000));
	cl_close(c);
	free(c);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	/* large head buffer: a head over one streaming buffer is refused cleanly (503) */
	ctl_send(px.ctl, 'F', "l", 1);
	ctl_reply(px.ctl, NULL, 0, NULL);
	char *req = malloc(16384), pad[6001];
	memset(pad, 'q', 6000);
	pad[6000] = 0;
	snprintf(req, 16384, "GET /hello HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", pad);
	struct resp r;
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 503);
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	free(req);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.bufs_used, 0);
	CHECK_EQ_INT(st.large_used, 0);
	CHECK_EQ_INT(st.upstream_busy, 0);
	teardown();
}

/* ---- tests: bodies
 * ---------------------------------------------------------------------------------- */

static void chunked_both_ways(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct resp r;
	CHECK_EQ_INT(
		get1(px.port,
		     "POST /echo-chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: v\r\n\r\n",
		     &r),
		0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.chunked);
	CHECK_EQ_MEM(r.body, r.body_len, "hello world");
	resp_free(&r);
	/* upstream chunked with extension and trailer reaches the client intact */
	CHECK_EQ_INT(get1(px.port, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	CHECK(r.chunked);
	CHECK_EQ_MEM(r.body, r.body_len, "abcdefg");
	resp_free(&r);
	teardown();
}

static void large_bodies_stream(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.buf_size = 4096;
	REQUIRE(setup(&lim, "", "", ""));
	size_t n = 1 << 20;
	char *body = malloc(n);
	for (size_t i = 0; i < n; i++)
		body[i] = (char)('A' + i % 23);
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	char head[256];
	snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n",
		 n);
	cl_send(c, head);
	/* send while reading would be needed for a full duplex echo; the upstream echo reads the
	 * whole body first, so writing it all first is fine (4 KiB buffers in between). */
	CHECK_EQ_INT(write_all(c->fd, body, n), 0);
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.body_len, n);
	CHECK(r.body_len == n && memcmp(r.body, body, n) == 0);
	resp_free(&r);
	/* and a big download on the same connection */
	cl_send(c, "GET /big/3000000 HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.body_len, 3000000);
	bool same = r.body_len == 3000000;
	for (size_t i = 0; same && i < r.body_len; i++)
		same = r.body[i] == (char)('a' + i % 26);
	CHECK(same);
	resp_free(&r);
	/* chunked upload through small buffers */
	cl_send(c, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0; off < 200000; off += 5000) {
		char sz[32];
		snprintf(sz, sizeof sz, "1388\r\n");
		cl_send(c, sz);
		write_all(c->fd, body + off, 5000);
		cl_send(c, "\r\n");
	}
	cl_send(c, "0\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.body_len, 200000);
	CHECK(r.body_len == 200000 && memcmp(r.body, body, 200000) == 0);
	resp_free(&r);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.upstream_connects, 1);
	cl_close(c);
	free(c);
	free(body);
	teardown();
}

static void expect_100_continue(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		   "Expect: 100-continue\r\n\r\n");
	/* the interim answer comes from the upstream, through the proxy */
	char *end;
	while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
		if (cl_more(c) < 0)
			break;
	CHECK(c->len >= 25 && strncmp(c->buf, "HTTP/1.1 100 Continue\r\n", 23) == 0);
	if (end)
		cl_eat(c, (size_t)(end - c->buf) + 4);
	cl_send(c, "hello");
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_MEM(r.body, r.body_len, "hello");
	resp_free(&r);
	/* 103 Early Hints are relayed too, then the final answer */
	cl_send(c, "GET /interim HTTP/1.1\r\nHost: a\r\n\r\n");
	c->len = 0;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_MEM(r.body, r.body_len, "ok");
	resp_free(&r);
	cl_close(c);
	free(c);
	teardown();
}

static void head_204_304(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	struct resp r;
	char v[64];
	cl_send(c, "HEAD /big/1234 HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, true), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(hdr_get(r.head, "Content-Length", v, sizeof v) && strcmp(v, "1234") == 0);
	resp_free(&r);
	cl_send(c, "GET /204 HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 204);
	CHECK(hdr_get(r.head, "Content-Length", v, sizeof v) == NULL);
	CHECK(hdr_get(r.head, "Transfer-Encoding", v, sizeof v) == NULL);
	resp_free(&r);
	cl_send(c, "GET /304 HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 304);
	CHECK(hdr_get(r.head, "Content-Length", v, sizeof v) && strcmp(v, "10") == 0);
	resp_free(&r);
	/* the connection is still in sync: no stray body bytes were read as a response */
	cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_MEM(r.body, r.body_len, "hello");
	resp_free(&r);
	CHECK_EQ_INT(c->len, 0);
	cl_close(c);
	free(c);
	teardown();
}

static void http10_client(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	/* chunked upstream answer to an HTTP/1.0 client: de-chunked, ends at close */
	cl_send(c, "GET /chunked HTTP/1.0\r\n\r\n");
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.closed);
	CHECK(!r.chunked);
	CHECK_EQ_MEM(r.body, r.body_len, "abcdefg");
	resp_free(&r);
	cl_close(c);
	/* HTTP/1.0 keep-alive when asked */
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	char v[64];
	CHECK(hdr_get(r.head, "Connection", v, sizeof v) && strcasecmp(v, "keep-alive") == 0);
	resp_free(&r);
	cl_send(c, "GET /hello HTTP/1.0\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	CHECK(cl_closed(c, 2000));
	cl_close(c);
	free(c);
	teardown();
}

static void upstream_close_delimited(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct resp r;
	CHECK_EQ_INT(get1(px.port, "GET /eofbody HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.closed);
	CHECK_EQ_MEM(r.body, r.body_len, "until-close");
	resp_free(&r);
	/* Connection: close from the upstream does not close the client connection */
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c, "GET /close HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "ok");
	resp_free(&r);
	cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	cl_close(c);
	free(c);
	teardown();
}

static void retry_on_stale_keepalive(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	/* The upstream closes right after answering, without saying so: the pooled connection
	 * is dead. The proxy notices (or retries once on a fresh one): the client sees 200. */
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(get_status(px.port, "/idle-close"), 200);
		CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	}
	teardown();
}

/* ---- tests: headers
 * --------------------------------------------------------------------------------- */

static void forwarded_and_hop_by_hop(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct resp r;
	CHECK_EQ_INT(get1(px.port,
			  "GET /headers HTTP/1.1\r\nHost: www.example.test:8080\r\n"
			  "Connection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\n"
			  "TE: trailers\r\nProxy-Connection: x\r\nX-Forwarded-For: 10.9.8.7\r\n"
			  "X-Keep: k\r\n\r\n",
			  &r),
		     0);
	CHECK_EQ_INT(r.status, 200);
	char *h = malloc(r.body_len + 1);
	memcpy(h, r.body, r.body_len);
	h[r.body_len] = 0;
	char v[256];
	CHECK(hdr_get(h, "X-Forwarded-For", v, sizeof v) && strcmp(v, "10.9.8.7, 127.0.0.1") == 0);
	CHECK(hdr_get(h, "X-Forwarded-Proto", v, sizeof v) && strcmp(v, "http") == 0);
	CHECK(hdr_get(h, "X-Forwarded-Host", v, sizeof v) &&
	      strcmp(v, "www.example.test:8080") == 0);
	CHECK(hdr_get(h, "X-Forwarded-Port", v, sizeof v) && strcmp(v, "8080") == 0);
	CHECK(hdr_get(h, "X-Forwarded-Server", v, sizeof v) && strcmp(v, "px-test") == 0);
	CHECK(hdr_get(h, "X-Real-Ip", v, sizeof v) && strcmp(v, "127.0.0.1") == 0);
	CHECK(hdr_get(h, "Host", v, sizeof v) && strcmp(v, "www.example.test:8080") == 0);
	CHECK(hdr_get(h, "X-Keep", v, sizeof v) != NULL);
	CHECK(hdr_get(h, "X-Secret", v, sizeof v) == NULL);
	CHECK(hdr_get(h, "Keep-Alive", v, sizeof v) == NULL);
	CHECK(hdr_get(h, "TE", v, sizeof v) == NULL);
	CHECK(hdr_get(h, "Proxy-Connection", v, sizeof v) == NULL);
	CHECK(hdr_get(h, "Connection", v, sizeof v) == NULL);
	CHECK(strncmp(h, "GET /headers HTTP/1.1\r\n", 23) == 0);
	free(h);
	resp_free(&r);
	/* PathPrefixStrip: the prefix goes, X-Forwarded-Prefix says which */
	CHECK_EQ_INT(get1(px.port, "GET /api/headers?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	h = malloc(r.body_len + 1);
	memcpy(h, r.body, r.body_len);
	h[r.body_len] = 0;
	CHECK(strncmp(h, "GET /headers?q=1 HTTP/1.1\r\n", 27) == 0);
	CHECK(hdr_get(h, "X-Forwarded-Prefix", v, sizeof v) && strcmp(v, "/api") == 0);
	free(h);
	resp_free(&r);
	teardown();
}

static void custom_headers_and_sticky(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	char be[512];
	up_start();
	snprintf(be, sizeof be,
		 ",\"st\":{\"servers\":{\"s\":{\"url\":\"http://127.0.0.1:%d\"}},"
		 "\"loadBalancer\":{\"stickiness\":{\"cookieName\":\"stk\"}}}",
		 up_port);
	px.port = free_port();
	char *d = doc_make(
		px.port, "",
		",\"st\":{\"backend\":\"st\",\"routes\":{\"r\":{\"rule\":\"Path:/headers\"}},"
		"\"priority\":100,\"headers\":{\"customRequestHeaders\":{\"X-Env\":\"prod\","
		"\"User-Agent\":\"\"},\"customResponseHeaders\":{\"X-Resp\":\"yes\"}}}",
		be);
	REQUIRE(px_start(&lim, d, -1) == 0);
	free(d);
	struct resp r;
	CHECK_EQ_INT(
		get1(px.port, "GET /headers HTTP/1.1\r\nHost: a\r\nUser-Agent: ua\r\n\r\n", &r), 0);
	char v[256];
	CHECK(hdr_get(r.head, "X-Resp", v, sizeof v) && strcmp(v, "yes") == 0);
	CHECK(hdr_get(r.head, "Set-Cookie", v, sizeof v) &&
	      strncmp(v, "stk=http://127.0.0.1:", 21) == 0);
	char *h = malloc(r.body_len + 1);
	memcpy(h, r.body, r.body_len);
	h[r.body_len] = 0;
	CHECK(hdr_get(h, "X-Env", v, sizeof v) && strcmp(v, "prod") == 0);
	CHECK(hdr_get(h, "User-Agent", v, sizeof v) == NULL);
	free(h);
	resp_free(&r);
	char req[256];
	snprintf(req, sizeof req,
		 "GET /headers HTTP/1.1\r\nHost: a\r\nCookie: stk=http://127.0.0.1:%d\r\n\r\n",
		 up_port);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK(hdr_get(r.head, "Set-Cookie", v, sizeof v) == NULL); /* valid cookie: none set */
	resp_free(&r);
	teardown();
}

static void redirect_and_whitelist(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	up_start();
	px.port = free_port();
	int p2 = free_port();
	char ep[512];
	snprintf(ep, sizeof ep,
		 ",\"alt\":{\"address\":\"127.0.0.1:%d\",\"redirect\":{\"entryPoint\":\"web\"}},"
		 "\"wl\":{\"address\":\"127.0.0.1:%d\",\"whitelist\":{\"sourceRange\":[\"10.0.0.0/"
		 "8\"]}}",
		 p2, free_port());
	char *d = doc_make(px.port, ep, "", "");
	/* frontends only on web by default; alt redirects everything */
	REQUIRE(px_start(&lim, d, -1) == 0);
	free(d);
	struct resp r;
	CHECK_EQ_INT(get1(p2, "GET /x?y=1 HTTP/1.1\r\nHost: site.test:81\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 302);
	char v[256];
	char want[128];
	snprintf(want, sizeof want, "http://site.test:%d/x?y=1", px.port);
	CHECK(hdr_get(r.head, "Location", v, sizeof v) && strcmp(v, want) == 0);
	resp_free(&r);
	CHECK_EQ_INT(
		get1(p2, "POST /x HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\n\r\n", &r),
		0);
	CHECK_EQ_INT(r.status, 307);
	resp_free(&r);
	ctl_send(px.ctl, 'P', "wl", 2);
	int pw = ctl_reply(px.ctl, NULL, 0, NULL);
	CHECK(pw > 0);
	CHECK_EQ_INT(get_status(pw, "/hello"), 403);
	teardown();
}

/* ---- tests: upgrade, swap
 * ---------------------------------------------------------------------------- */

static void websocket_echo(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	cl_send(c,
		"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 101);
	char v[64];
	CHECK(hdr_get(r.head, "Upgrade", v, sizeof v) && strcasecmp(v, "websocket") == 0);
	resp_free(&r);
	for (int i = 0; i < 10; i++) {
		char msg[64], back[64];
		int n = snprintf(msg, sizeof msg, "frame-%d", i);
		cl_send(c, msg);
		size_t got = c->len;
		memcpy(back, c->buf, got);
		c->len = 0;
		while (got < (size_t)n) {
			ssize_t k = read(c->fd, back + got, (size_t)n - got);
			if (k <= 0)
				break;
			got += (size_t)k;
		}
		CHECK(got == (size_t)n && memcmp(back, msg, (size_t)n) == 0);
	}
	char *m = px_metrics();
	CHECK(strstr(m, "protocol=\"websocket\"") != NULL);
	cl_close(c);
	free(c);
	teardown();
}

static void swap_during_long_request_and_tunnel(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.upstream_read_timeout_ms = 3000;
	REQUIRE(setup(&lim, "", "", ""));
	/* a long response (20 x 10 bytes, 40 ms apart) and a tunnel, both started on table 1 */
	struct cl *lg = malloc(sizeof *lg), *ws = malloc(sizeof *ws), *ka = malloc(sizeof *ka);
	REQUIRE(cl_open(lg, px.port) == 0);
	REQUIRE(cl_open(ws, px.port) == 0);
	REQUIRE(cl_open(ka, px.port) == 0);
	cl_send(lg, "GET /drip/20/40 HTTP/1.1\r\nHost: a\r\n\r\n");
	cl_send(ws,
		"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
	struct resp r;
	CHECK_EQ_INT(cl_response(ws, &r, false), 0);
	CHECK_EQ_INT(r.status, 101);
	resp_free(&r);
	cl_send(ka, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(ka, &r, false), 0);
	resp_free(&r);
	sleep_ms(100);
	/* table 2: the catch-all now rewrites everything to /v2 (answers "two") */
	char d2[2048];
	snprintf(d2, sizeof d2,
		 "{\"version\":1,\"revision\":2,\"defaultEntryPoints\":[\"web\"],"
		 "\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%d\"}},"
		 "\"frontends\":{\"main\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		 "\"PathPrefix:/;ReplacePath:/v2\"}}}},"
		 "\"backends\":{\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%d\"}}}}}",
		 px.port, up_port);
	char msg[256];
	CHECK_EQ_INT(px_load(d2, msg, sizeof msg), 0);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.tables_alive, 2); /* the old one is held by the requests in flight */
	CHECK_EQ_INT(st.listeners, 1);
	/* the kept-alive connection and a new one route on table 2 */
	cl_send(ka, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(ka, &r, false), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "two");
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	CHECK_EQ_MEM(r.body, r.body_len, "two");
	resp_free(&r);
	/* the tunnel still echoes */
	cl_send(ws, "after-swap");
	char back[16];
	CHECK_EQ_INT(read_full(ws->fd, back, 10), 0);
	CHECK(memcmp(back, "after-swap", 10) == 0);
	/* the long response completes whole, on table 1 */
	CHECK_EQ_INT(cl_response(lg, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.body_len, 200);
	resp_free(&r);
	cl_close(ws);
	sleep_ms(100);
	st = px_stats();
	CHECK_EQ_INT(st.tables_alive, 1); /* freed with its last user */
	CHECK_EQ_INT(st.swaps, 2);
	/* a bad document changes nothing */
	CHECK(px_load("{\"version\":1,\"revision\":3,\"frontends\":{\"f\":{\"backend\":\"nope\"}}}",
		      msg, sizeof msg) < 0);
	CHECK(msg[0] != 0);
	CHECK_EQ_INT(get_status(px.port, "/x"), 200);
	cl_close(lg);
	cl_close(ka);
	free(lg);
	free(ws);
	free(ka);
	teardown();
}

static void swap_adds_and_removes_listeners(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	int p2 = free_port();
	char ep[256];
	snprintf(ep, sizeof ep, ",\"alt\":{\"address\":\"127.0.0.1:%d\"}", p2);
	char *d = doc_make(px.port, ep, "", "");
	char msg[256];
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0); /* the unchanged listener took connections all along */
	cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	/* "alt" listens but serves no frontend (they default to "web"): 404 */
	CHECK_EQ_INT(get_status(p2, "/hello"), 404);
	/* back to one entry point: alt closes, web stays */
	d = doc_make(px.port, "", "", "");
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.listeners, 1);
	cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	/* an entry point that cannot listen (port taken) refuses the whole document */
	int taken = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(taken, (struct sockaddr *)&a, sizeof a);
	listen(taken, 1);
	socklen_t len = sizeof a;
	getsockname(taken, (struct sockaddr *)&a, &len);
	snprintf(ep, sizeof ep, ",\"alt\":{\"address\":\"127.0.0.1:%d\"}", ntohs(a.sin_port));
	d = doc_make(px.port, ep, "", "");
	CHECK(px_load(d, msg, sizeof msg) < 0);
	free(d);
	close(taken);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	cl_close(c);
	free(c);
	teardown();
}

/* ---- tests: metrics and access log
 * ------------------------------------------------------------------- */

static void metrics_and_access_log(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	up_start();
	px.port = free_port();
	int pfd[2];
	REQUIRE(pipe(pfd) == 0);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	char *d = doc_make(px.port, "", "", "");
	REQUIRE(px_start(&lim, d, pfd[1]) == 0);
	free(d);
	close(pfd[1]);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	struct resp r;
	CHECK_EQ_INT(get1(px.port,
			  "GET /hello?q=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\n"
			  "Referer: http://r.test/\r\n\r\n",
			  &r),
		     0);
	resp_free(&r);
	CHECK_EQ_INT(get_status(px.port, "/missing"), 404); /* upstream 404 */
	char *m = px_metrics();
	CHECK(strstr(m, "traefik_entrypoint_requests_total{code=\"200\",method=\"GET\","
			"protocol=\"http\",entrypoint=\"web\"} 2") != NULL);
	CHECK(strstr(m, "traefik_backend_requests_total{code=\"404\",method=\"GET\","
			"protocol=\"http\",backend=\"up\"} 1") != NULL);
	CHECK(strstr(m, "traefik_frontend_requests_total{code=\"200\",method=\"GET\","
			"protocol=\"http\",frontend=\"main\"} 2") != NULL);
	CHECK(strstr(m,
		     "traefik_entrypoint_request_duration_seconds_bucket{code=\"200\","
		     "method=\"GET\",protocol=\"http\",entrypoint=\"web\",le=\"+Inf\"} 2") != NULL);
	CHECK(strstr(m, "traefik_config_reloads_total 1") != NULL);
	CHECK(strstr(m, "traefik_entrypoint_open_connections{method=\"GET\",protocol=\"http\","
			"entrypoint=\"web\"} 0") != NULL);
	sleep_ms(100);
	char log[8192];
	ssize_t n = read(pfd[0], log, sizeof log - 1);
	REQUIRE(n > 0);
	log[n] = 0;
	char want[512];
	snprintf(want, sizeof want,
		 "127.0.0.1 - - [14/Nov/2023:22:13:20 +0000] \"GET /hello?q=1 HTTP/1.1\" 200 5 "
		 "\"http://r.test/\" \"curl/8\" 2 \"main\" \"http://127.0.0.1:%d\" ",
		 up_port);
	CHECK(strstr(log, want) != NULL);
	if (!strstr(log, want))
		fprintf(stderr, "  log: %s\n  want: %s\n", log, want);
	close(pfd[0]);
	teardown();
}

/* ---- tests: TLS
 * --------------------------------------------------------------------------------------- */

struct pem {
	char cert[4096];
	char key[512];
};

static struct rand trng;

static bool make_cert(struct pki_ca *ca, const char *name, struct pem *out)
{
	struct pki_key k;
	if (pki_key_generate(&k, &trng) < 0)
		return false;
	const char *dns[] = {name};
	struct pki_cert_req req = {.role = PKI_ROLE_DATA,
				   .id = name,
				   .pub = k.pub,
				   .lifetime = 86400,
				   .dns = dns,
				   .ndns = 1};
	uint8_t der[PKI_CERT_MAX];
	struct buf db, cb, kb;
	buf_init(&db, der, sizeof der);
	buf_init(&cb, out->cert, sizeof out->cert);
	buf_init(&kb, out->key, sizeof out->key);
	int64_t now = time(NULL);
	return pki_cert_issue(ca, &trng, &req, now, &db) == 0 &&
	       pki_pem_encode("CERTIFICATE", db.data, db.len, &cb) == 0 &&
	       pki_key_to_pem(&k, PKI_KEY_SEC1, &kb) == 0;
}

static void json_str(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 3 < cap; s++) {
		if (*s == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = *s;
		}
	}
	out[n] = 0;
}

/* A blocking TLS 1.2 client over our own engine: GET path with SNI name; the peer's CN. */
static int tls_get(int port, const char *sni, const char *req, char *body, size_t cap, char *cn,
		   size_t cncap)
{
	static struct tls_client_config cc;
	static uint8_t store[4096];
	tls_client_config_init(&cc, store, sizeof store);
	tls_client_set_insecure_skip_verify(&cc, true);
	struct tls_conn *t = calloc(1, tls_conn_size());
	int rc = tls_conn_init_client(t, &cc, sni, &trng);
	struct cl *c = malloc(sizeof *c);
	if (rc < 0 || cl_open(c, port) < 0) {
		free(t);
		free(c);
		return -1;
	}
	bool sent = false;
	size_t got = 0;
	uint64_t until = mono_ms() + 5000;
	while (mono_ms() < until) {
		size_t len;
		const uint8_t *o = tls_conn_send_buf(t, &len);
		if (o && len) {
			ssize_t w = send(c->fd, o, len, MSG_NOSIGNAL);
			if (w <= 0)
				break;
			tls_conn_send_ack(t, (size_t)w);
			continue;
		}
		if (tls_conn_handshake_done(t) && !sent) {
			if (tls_conn_write(t, req, strlen(req)) > 0)
				sent = true;
			continue;
		}
		ssize_t n = tls_conn_read(t, body + got, cap - 1 - got);
		if (n > 0) {
			got += (size_t)n;
			body[got] = 0;
			char *e = strstr(body, "\r\n\r\n");
			char v[32];
			if (e && hdr_get(body, "Content-Length", v, sizeof v) &&
			    got >= (size_t)(e - body) + 4 + strtoul(v, NULL, 10))
				break;
			continue;
		}
		if (tls_conn_error(t) || tls_conn_done(t))
			break;
		uint8_t *in = tls_conn_recv_buf(t, &len);
		if (!in || !len)
			break;
		ssize_t r = read(c->fd, in, len);
		if (r <= 0) {
			tls_conn_recv_eof(t);
			continue;
		}
		tls_conn_recv_ack(t, (size_t)r);
	}
	const char *pcn = tls_conn_peer_cn(t);
	snprintf(cn, cncap, "%s", pcn ? pcn : "");
	cl_close(c);
	free(c);
	tls_conn_wipe(t);
	free(t);
	return got ? (int)got : -1;
}

static void tls_sni_and_default_cert(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	uint8_t seed[32] = {7};
	rand_init_seed(&trng, seed, sizeof seed);
	struct pki_ca *ca = malloc(sizeof *ca);
	struct pem *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	REQUIRE(pki_ca_create(ca, &trng, "test", time(NULL)) == 0);
	REQUIRE(make_cert(ca, "a.test", a) && make_cert(ca, "b.test", b));
	char *ep = malloc(32768), *ac = malloc(8192), *ak = malloc(1024), *bc = malloc(8192),
	     *bk = malloc(1024);
	json_str(ac, 8192, a->cert);
	json_str(ak, 1024, a->key);
	json_str(bc, 8192, b->cert);
	json_str(bk, 1024, b->key);
	int ps = free_port(), pd = free_port();
	snprintf(ep, 32768,
		 ",\"tls\":{\"address\":\"127.0.0.1:%d\",\"tls\":{\"certificates\":["
		 "{\"certFile\":\"%s\",\"keyFile\":\"%s\"},{\"certFile\":\"%s\",\"keyFile\":\"%s\"}"
		 "]}},"
		 "\"tlsdefault\":{\"address\":\"127.0.0.1:%d\",\"tls\":{}}",
		 ps, ac, ak, bc, bk, pd);
	up_start();
	px.port = free_port();
	char *d = malloc(65536);
	snprintf(d, 65536,
		 "{\"version\":1,\"revision\":1,\"defaultEntryPoints\":[\"web\",\"tls\","
		 "\"tlsdefault\"],"
		 "\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%d\"}%s},"
		 "\"frontends\":{\"main\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		 "\"PathPrefix:/\"}}}},"
		 "\"backends\":{\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%d\"}}}}}",
		 px.port, ep, up_port);
	int rc = px_start(&lim, d, -1);
	free(d);
	REQUIRE(rc == 0);
	char *body = malloc(65536);
	char cn[128];
	const char *req = "GET /headers HTTP/1.1\r\nHost: a.test\r\n\r\n";
	CHECK(tls_get(ps, "a.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "a.test");
	CHECK(strstr(body, "HTTP/1.1 200") == body);
	CHECK(strstr(body, "X-Forwarded-Proto: https") != NULL);
	CHECK(tls_get(ps, "b.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "b.test");
	CHECK(tls_get(ps, "unknown.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "a.test"); /* the first certificate is the default */
	CHECK(tls_get(pd, "x.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "TRAEFIK DEFAULT CERT"); /* generated when none is configured */
	CHECK(strstr(body, "HTTP/1.1 200") == body);
	free(body);
	free(ep);
	free(ac);
	free(ak);
	free(bc);
	free(bk);
	free(a);
	free(b);
	pki_ca_wipe(ca);
	free(ca);
	teardown();
}

/* Tunnels hold no routing table: five tunnels opened across five reloads (max_tables 4)
 * leave one table alive, the next reload succeeds and every tunnel still echoes. */
static void tunnels_do_not_hold_tables(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *ws[6];
	char msg[256];
	for (int i = 0; i < 6; i++) {
		ws[i] = malloc(sizeof *ws[i]);
		REQUIRE(cl_open(ws[i], px.port) == 0);
		cl_send(ws[i], "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
			       "Connection: Upgrade\r\n\r\n");
		struct resp r;
		CHECK_EQ_INT(cl_response(ws[i], &r, false), 0);
		CHECK_EQ_INT(r.status, 101);
		resp_free(&r);
		char *d = doc_make(px.port, "", "", "");
		char *rev = strstr(d, "\"revision\":1");
		REQUIRE(rev != NULL);
		rev[11] = (char)('2' + i); /* a changed document */
		CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
		free(d);
	}
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.tables_alive, 1); /* the tunnels hold none */
	CHECK_EQ_INT(st.swaps, 7);
	CHECK_EQ_INT(st.swap_failures, 0);
	for (int i = 0; i < 6; i++) {
		char out[16], back[16];
		int n = snprintf(out, sizeof out, "tunnel-%d", i);
		cl_send(ws[i], out);
		CHECK_EQ_INT(read_full(ws[i]->fd, back, (size_t)n), 0);
		CHECK(memcmp(back, out, (size_t)n) == 0);
	}
	/* the 101s were recorded when relayed: no open-connection gauge stays raised */
	char *m = px_metrics();
	CHECK(strstr(m, "protocol=\"websocket\"") != NULL);
	for (int i = 0; i < 6; i++) {
		cl_close(ws[i]);
		free(ws[i]);
	}
	teardown();
}

/* A TLS keep-alive client connection of our own (one request at a time). */
struct tk {
	struct tls_conn *t;
	struct cl c;
};

static int tk_open(struct tk *k, int port)
{
	static struct tls_client_config cc;
	static uint8_t store[4096];
	tls_client_config_init(&cc, store, sizeof store);
	tls_client_set_insecure_skip_verify(&cc, true);
	k->t = calloc(1, tls_conn_size());
	if (tls_conn_init_client(k->t, &cc, "a.test", &trng) < 0 || cl_open(&k->c, port) < 0) {
		free(k->t);
		k->t = NULL;
		return -1;
	}
	return 0;
}

static void tk_close(struct tk *k)
{
	if (!k->t)
		return;
	cl_close(&k->c);
	tls_conn_wipe(k->t);
	free(k->t);
	k->t = NULL;
}

/* Complete the handshake only (the connection then waits for its first request). */
static int tk_handshake(struct tk *k)
{
	uint64_t until = mono_ms() + 5000;
	while (mono_ms() < until && !tls_conn_handshake_done(k->t)) {
		size_t len;
		const uint8_t *o = tls_conn_send_buf(k->t, &len);
		if (o && len) {
			ssize_t w = send(k->c.fd, o, len, MSG_NOSIGNAL);
			if (w <= 0)
				return -1;
			tls_conn_send_ack(k->t, (size_t)w);
			continue;
		}
		uint8_t *in = tls_conn_recv_buf(k->t, &len);
		if (!in || !len || tls_conn_error(k->t))
			return -1;
		ssize_t r = read(k->c.fd, in, len);
		if (r <= 0)
			return -1;
		tls_conn_recv_ack(k->t, (size_t)r);
	}
	return tls_conn_handshake_done(k->t) ? 0 : -1;
}

/* One request; the whole response (Content-Length framed) in body. Bytes, or -1 (closed). */
static int tk_get(struct tk *k, const char *req, char *body, size_t cap)
{
	struct tls_conn *t = k->t;
	bool sent = false;
	size_t got = 0;
	uint64_t until = mono_ms() + 5000;
	while (mono_ms() < until) {
		size_t len;
		const uint8_t *o = tls_conn_send_buf(t, &len);
		if (o && len) {
			ssize_t w = send(k->c.fd, o, len, MSG_NOSIGNAL);
			if (w <= 0)
				return -1;
			tls_conn_send_ack(t, (size_t)w);
			continue;
		}
		if (tls_conn_handshake_done(t) && !sent) {
			if (tls_conn_write(t, req, strlen(req)) > 0)
				sent = true;
			continue;
		}
		ssize_t n = tls_conn_read(t, body + got, cap - 1 - got);
		if (n > 0) {
			got += (size_t)n;
			body[got] = 0;
			char *e = strstr(body, "\r\n\r\n");
			char v[32];
			if (e && hdr_get(body, "Content-Length", v, sizeof v) &&
			    got >= (size_t)(e - body) + 4 + strtoul(v, NULL, 10))
				return (int)got;
			continue;
		}
		if (tls_conn_error(t) || tls_conn_done(t))
			return -1;
		uint8_t *in = tls_conn_recv_buf(t, &len);
		if (!in || !len)
			return -1;
		ssize_t r = read(k->c.fd, in, len);
		if (r <= 0) {
			tls_conn_recv_eof(t);
			if (!got)
				return -1;
			continue;
		}
		tls_conn_recv_ack(t, (size_t)r);
	}
	return -1;
}

/* A routing document with a TLS entry point on tport; cert: "" (the default certificate) or
 * a certificates member. */
static char *doc_tls(int rev, int tport, const char *cert)
{
	char *d = malloc(32768);
	snprintf(d, 32768,
		 "{\"version\":1,\"revision\":%d,\"defaultEntryPoints\":[\"web\",\"tls\"],"
		 "\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%d\"},"
		 "\"tls\":{\"address\":\"127.0.0.1:%d\",\"tls\":{%s}}},"
		 "\"frontends\":{\"main\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		 "\"PathPrefix:/\"}}},\"f%d\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		 "\"Path:/r%d\"}}}},"
		 "\"backends\":{\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%d\"}}}}}",
		 rev, px.port, tport, cert, rev, rev, up_port);
	return d;
}

/* An idle TLS keep-alive connection survives reloads that keep its entry point's TLS
 * configuration (shared by the generations), holds no table, and closes when the
 * certificates change; TLS configurations live in their own pool. */
static void tls_keepalive_survives_reload(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	lim.max_tls_generations = 2;
	uint8_t seed[32] = {9};
	rand_init_seed(&trng, seed, sizeof seed);
	up_start();
	px.port = free_port();
	int tport = free_port();
	char *d = doc_tls(1, tport, "");
	int rc = px_start(&lim, d, -1);
	free(d);
	REQUIRE(rc == 0);
	char *body = malloc(65536);
	const char *req = "GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n";
	struct tk k;
	REQUIRE(tk_open(&k, tport) == 0);
	CHECK(tk_get(&k, req, body, 65536) > 0);
	CHECK(strstr(body, "HTTP/1.1 200") == body);
	char msg[256];
	for (int i = 2; i < 8; i++) {
		d = doc_tls(i, tport, "");
		CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
		free(d);
		struct proxy_engine_stats st = px_stats();
		CHECK_EQ_INT(st.tables_alive, 1);   /* the idle TLS connection holds no table */
		CHECK_EQ_INT(st.tls_cfgs_alive, 1); /* unchanged TLS: one shared configuration */
		CHECK_EQ_INT(st.tls_conns, 1);
		CHECK(tk_get(&k, req, body, 65536) > 0); /* the same connection serves on */
		CHECK(strstr(body, "HTTP/1.1 200") == body);
	}
	/* Idle 250 ms: the connection gives its TLS buffer back (tls_conn_trim), once, and
	 * serves on with the pages faulted back in. */
	uint64_t trims = px_stats().tls_trims;
	sleep_ms(600);
	CHECK_EQ_INT(px_stats().tls_trims, trims + 1);
	sleep_ms(300);
	CHECK_EQ_INT(px_stats().tls_trims, trims + 1); /* one per idle period */
	for (int i = 0; i < 2; i++) {
		CHECK(tk_get(&k, req, body, 65536) > 0);
		CHECK(strstr(body, "HTTP/1.1 200") == body);
		sleep_ms(600);
		CHECK_EQ_INT(px_stats().tls_trims, trims + 2 + (uint64_t)i);
	}
	/* New certificates: the idle connection of the old configuration closes. */
	struct pki_ca *ca = malloc(sizeof *ca);
	struct pem *a = malloc(sizeof *a);
	REQUIRE(pki_ca_create(ca, &trng, "test", time(NULL)) == 0);
	REQUIRE(make_cert(ca, "a.test", a));
	char *ac = malloc(8192), *ak = malloc(1024), *cert = malloc(16384);
	json_str(ac, 8192, a->cert);
	json_str(ak, 1024, a->key);
	snprintf(cert, 16384, "\"certificates\":[{\"certFile\":\"%s\",\"keyFile\":\"%s\"}]", ac,
		 ak);
	d = doc_tls(8, tport, cert);
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	CHECK(cl_closed(&k.c, 2000));
	tk_close(&k);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.tls_cfgs_alive, 1);
	CHECK_EQ_INT(st.tls_conns, 0);
	char cn[128];
	CHECK(tls_get(tport, "a.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "a.test");
	/* Connections hold their configuration (those before their first request are not idle
	 * for their client: they keep it); when they hold every slot of the pool, a load that
	 * needs a new configuration fails, naming the limit, and the running table stays. */
	struct tk h1, h2;
	REQUIRE(tk_open(&h1, tport) == 0);
	CHECK_EQ_INT(tk_handshake(&h1), 0);
	d = doc_tls(9, tport, ""); /* back to the default certificate */
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	st = px_stats();
	CHECK_EQ_INT(st.tls_cfgs_alive, 2);
	CHECK_EQ_INT(st.tables_alive, 1);
	REQUIRE(tk_open(&h2, tport) == 0);
	CHECK_EQ_INT(tk_handshake(&h2), 0);
	struct pem *b = malloc(sizeof *b);
	REQUIRE(make_cert(ca, "b.test", b));
	json_str(ac, 8192, b->cert);
	json_str(ak, 1024, b->key);
	snprintf(cert, 16384, "\"certificates\":[{\"certFile\":\"%s\",\"keyFile\":\"%s\"}]", ac,
		 ak);
	d = doc_tls(10, tport, cert);
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), -ERR_PROXY_TABLES_FULL);
	CHECK(strstr(msg, "max_tls_generations") != NULL);
	CHECK(tls_get(tport, "x.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "TRAEFIK DEFAULT CERT"); /* the running table stays */
	tk_close(&h1);
	sleep_ms(100);
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	CHECK(tls_get(tport, "b.test", req, body, 65536, cn, sizeof cn) > 0);
	CHECK_EQ_STR(cn, "b.test");
	/* h2 was still before its first request: it gets that request, then closes */
	CHECK(tk_get(&h2, req, body, 65536) > 0);
	CHECK(strstr(body, "HTTP/1.1 200") == body);
	CHECK(strstr(body, "Connection: close") != NULL);
	tk_close(&h2);
	free(b);
	free(cert);
	free(ac);
	free(ak);
	free(a);
	pki_ca_wipe(ca);
	free(ca);
	free(body);
	teardown();
}

/* ---- tests: shutdown, standalone mode
 * --------------------------------------------------------------- */

static void graceful_shutdown_drains(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	REQUIRE(setup(&lim, "", "", ""));
	struct cl *lg = malloc(sizeof *lg), *idle = malloc(sizeof *idle);
	REQUIRE(cl_open(lg, px.port) == 0);
	REQUIRE(cl_open(idle, px.port) == 0);
	cl_send(lg, "GET /drip/10/30 HTTP/1.1\r\nHost: a\r\n\r\n");
	sleep_ms(60);
	ctl_send(px.ctl, 'Q', NULL, 0);
	CHECK_EQ_INT(ctl_reply(px.ctl, NULL, 0, NULL), 0);
	CHECK(cl_closed(idle, 1000)); /* idle connections close at once */
	struct resp r;
	CHECK_EQ_INT(cl_response(lg, &r, false), 0); /* the one in flight finishes */
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.body_len, 100);
	resp_free(&r);
	CHECK(cl_closed(lg, 1000)); /* and its connection closes after it */
	int status = -1;
	for (int i = 0; i < 40 && waitpid(px.pid, &status, WNOHANG) == 0; i++)
		sleep_ms(50);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* the loop stopped by itself */
	px.pid = 0;
	close(px.ctl);
	CHECK(cl_open(idle, px.port) < 0 || cl_closed(idle, 500)); /* nobody listens any more */
	cl_close(lg);
	cl_close(idle);
	free(lg);
	free(idle);
	teardown();
}

static void standalone_workers_reload_stop(void)
{
	up_start();
	int port = free_port();
	char path[] = "build/pxt-routing-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	char *d = doc_make(port, "", "", "");
	REQUIRE(write(fd, d, strlen(d)) == (ssize_t)strlen(d));
	close(fd);
	free(d);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setpgid(0, 0); /* its workers too are killed with the group, by this PID */
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		char arg[96];
		snprintf(arg, sizeof arg, "--routing=%s", path);
		char *argv[] = {"proxy",
				arg,
				"--workers=2",
				"--max-conns=64",
				"--max-tls-conns=8",
				"--max-bufs=64",
				"--grace-timeout=2s",
				NULL};
		_exit(proxy_standalone_main(7, argv));
	}
	int st = 0;
	for (int i = 0; i < 50 && st != 200; i++) {
		sleep_ms(50);
		st = get_status(port, "/hello");
	}
	CHECK_EQ_INT(st, 200);
	/* SIGHUP: the master tells every worker to re-read the file */
	char d2[2048];
	snprintf(d2, sizeof d2,
		 "{\"version\":1,\"revision\":2,\"defaultEntryPoints\":[\"web\"],"
		 "\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%d\"}},"
		 "\"frontends\":{\"main\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":"
		 "\"PathPrefix:/;ReplacePath:/v2\"}}}},"
		 "\"backends\":{\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%d\"}}}}}",
		 port, up_port);
	fd = open(path, O_WRONLY | O_TRUNC);
	REQUIRE(write(fd, d2, strlen(d2)) == (ssize_t)strlen(d2));
	close(fd);
	kill(pid, SIGHUP);
	sleep_ms(300);
	for (int i = 0; i < 6; i++) { /* whichever worker accepts: the new table */
		struct resp r;
		CHECK_EQ_INT(get1(port, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
		CHECK_EQ_MEM(r.body, r.body_len, "two");
		resp_free(&r);
	}
	kill(pid, SIGTERM);
	int status = -1;
	for (int i = 0; i < 60 && waitpid(pid, &status, WNOHANG) == 0; i++)
		sleep_ms(50);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kill(-pid, SIGKILL); /* whatever is left of the group */
	if (!WIFEXITED(status))
		waitpid(pid, NULL, 0);
	/* usage errors exit 2, a bad document 1 */
	char *bad[] = {"proxy", "--bogus=1", NULL};
	CHECK_EQ_INT(proxy_standalone_main(2, bad), 2);
	unlink(path);
	up_stop();
}

/* ---- tests: authentication (docs/internals/proxy-auth.md) ------------------------------------ */

static void md5_hex_(const char *s, char out[33])
{
	br_md5_context c;
	uint8_t d[16];
	br_md5_init(&c);
	br_md5_update(&c, s, strlen(s));
	br_md5_out(&c, d);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void auth_basic_and_digest(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	/* alice:secret1 (htpasswd -nbm), dora:digestpw (htdigest, realm traefik) */
	const char *fe =
		",\"sec\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/app/"
		"sec\"}},"
		"\"auth\":{\"basic\":{\"users\":[\"alice:$apr1$PlLBqpSq$UjqndTPAicz8OrJ.bgLB00\"],"
		"\"removeHeader\":true},\"headerField\":\"X-WebAuth-User\"}},"
		"\"dig\":{\"backend\":\"up\",\"routes\":{\"r\":{\"rule\":\"PathPrefix:/app/dig\"}},"
		"\"auth\":{\"digest\":{\"users\":[\"dora:traefik:"
		"0bf25fb6d80091616f92df7cd3a24bf4\"]}}}";
	REQUIRE(setup(&lim, "", fe, ""));
	struct resp r;
	char v[512];
	CHECK_EQ_INT(get1(px.port, "GET /app/sec/x HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 401);
	CHECK(hdr_get(r.head, "WWW-Authenticate", v, sizeof v) &&
	      strcmp(v, "Basic realm=\"traefik\"") == 0);
	resp_free(&r);
	CHECK_EQ_INT(get1(px.port,
			  "GET /app/sec/x HTTP/1.1\r\nHost: a\r\n"
			  "Authorization: Basic YWxpY2U6c2VjcmV0Mg==\r\n\r\n",
			  &r),
		     0);
	CHECK_EQ_INT(r.status, 401); /* alice:secret2 */
	resp_free(&r);
	/* Right password, on one keep-alive connection: the user goes upstream in headerField
	 * (the client's own X-WebAuth-User does not), Authorization does not (removeHeader). */
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	for (int i = 0; i < 3; i++) {
		cl_send(c, "GET /app/sec/x HTTP/1.1\r\nHost: a\r\nX-WebAuth-User: mallory\r\n"
			   "Authorization: Basic YWxpY2U6c2VjcmV0MQ==\r\n\r\n");
		CHECK_EQ_INT(cl_response(c, &r, false), 0);
		CHECK_EQ_INT(r.status, 200);
		resp_free(&r);
		CHECK(hdr_get(ush->last_head, "X-WebAuth-User", v, sizeof v) &&
		      strcmp(v, "alice") == 0);
		CHECK(strstr(ush->last_head, "mallory") == NULL);
		CHECK(strcasestr(ush->last_head, "Authorization") == NULL);
	}
	cl_close(c);
	free(c);
	/* Digest: challenge, then the browser's answer. */
	CHECK_EQ_INT(get1(px.port, "GET /app/dig HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	CHECK_EQ_INT(r.status, 401);
	REQUIRE(hdr_get(r.head, "WWW-Authenticate", v, sizeof v) != NULL);
	resp_free(&r);
	CHECK(strncmp(v, "Digest realm=\"traefik\", nonce=\"", 31) == 0);
	char nonce[64] = "", opaque[64] = "";
	const char *p = strstr(v, "nonce=\""), *q = strstr(v, "opaque=\"");
	REQUIRE(p && q);
	sscanf(p + 7, "%63[^\"]", nonce);
	sscanf(q + 8, "%63[^\"]", opaque);
	char ha2[33], kd[33], buf[512], req[1024];
	md5_hex_("GET:/app/dig?a=1", ha2);
	snprintf(buf, sizeof buf, "0bf25fb6d80091616f92df7cd3a24bf4:%s:00000001:c0ffee:auth:%s",
		 nonce, ha2);
	md5_hex_(buf, kd);
	snprintf(req, sizeof req,
		 "GET /app/dig?a=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Digest username=\"dora\", "
		 "realm=\"traefik\", nonce=\"%s\", uri=\"/app/dig?a=1\", response=\"%s\", "
		 "opaque=\"%s\", qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n\r\n",
		 nonce, kd, opaque);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_free(&r);
	CHECK(strstr(ush->last_head, "Authorization: Digest") != NULL); /* no removeHeader */
	/* The same answer for another method is refused. */
	memcpy(req, "PUT", 3);
	CHECK_EQ_INT(get1(px.port, req, &r), 0);
	CHECK_EQ_INT(r.status, 401);
	resp_free(&r);
	teardown();
}

/* An https:// server: the engine's own TLS entry point (default self-signed certificate)
 * in front of the test upstream, reached from the plain entry point through a backend
 * https://127.0.0.1:<tls port>. insecureSkipVerify accepts the self-signed certificate, one
 * upstream TLS connection carries every request (keep-alive), a body crosses both hops; a
 * reload without insecureSkipVerify or rootCAs closes the pooled connection and answers 502. */
static char *doc_https_up(int rev, int tport, bool insecure)
{
	char *d = malloc(32768);
	snprintf(d, 32768,
		 "{\"version\":1,\"revision\":%d,\"insecureSkipVerify\":%s,"
		 "\"entryPoints\":{\"web\":{\"address\":\"127.0.0.1:%d\"},"
		 "\"tls\":{\"address\":\"127.0.0.1:%d\",\"tls\":{}}},"
		 "\"frontends\":{\"out\":{\"entryPoints\":[\"web\"],\"backend\":\"tlsback\","
		 "\"routes\":{\"r\":{\"rule\":\"PathPrefix:/\"}}},"
		 "\"in\":{\"entryPoints\":[\"tls\"],\"backend\":\"up\","
		 "\"routes\":{\"r\":{\"rule\":\"PathPrefix:/\"}}}},"
		 "\"backends\":{\"tlsback\":{\"servers\":{\"s\":{\"url\":"
		 "\"https://127.0.0.1:%d\"}}},"
		 "\"up\":{\"servers\":{\"s1\":{\"url\":\"http://127.0.0.1:%d\"}}}}}",
		 rev, insecure ? "true" : "false", px.port, tport, tport, up_port);
	return d;
}

static void https_upstream_keepalive_and_reload(void)
{
	struct proxy_dp_limits lim;
	lim_test(&lim);
	up_start();
	px.port = free_port();
	int tport = free_port();
	char *d = doc_https_up(1, tport, true);
	int rc = px_start(&lim, d, -1);
	free(d);
	REQUIRE(rc == 0);
	struct cl *c = malloc(sizeof *c);
	REQUIRE(cl_open(c, px.port) == 0);
	for (int i = 0; i < 10; i++) {
		cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
		struct resp r;
		CHECK_EQ_INT(cl_response(c, &r, false), 0);
		CHECK_EQ_INT(r.status, 200);
		CHECK_EQ_MEM(r.body, r.body_len, "hello");
		resp_free(&r);
	}
	char *big = malloc(300001);
	memset(big, 'b', 300000);
	big[300000] = 0;
	char head[128];
	snprintf(head, sizeof head,
		 "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n");
	cl_send(c, head);
	CHECK_EQ_INT(write_all(c->fd, big, 300000), 0);
	struct resp r;
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.body_len == 300000 && memcmp(r.body, big, 300000) == 0);
	resp_free(&r);
	free(big);
	struct proxy_engine_stats st = px_stats();
	CHECK_EQ_INT(st.upstream_tls_handshakes, 1); /* one upstream TLS connection for all */
	CHECK_EQ_INT(st.upstream_tls, 1);
	CHECK_EQ_INT(st.upstream_tls_failures, 0);
	/* A reload without insecureSkipVerify: the pooled connection of the old table closes,
	 * the next request cannot verify (no rootCAs): 502, no handshake. */
	char msg[256];
	d = doc_https_up(2, tport, false);
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	cl_send(c, "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK_EQ_INT(cl_response(c, &r, false), 0);
	CHECK_EQ_INT(r.status, 502);
	resp_free(&r);
	st = px_stats();
	CHECK_EQ_INT(st.upstream_tls_handshakes, 1);
	CHECK(st.upstream_tls_failures >= 1);
	CHECK_EQ_INT(st.upstream_tls, 0);
	/* and back: a new handshake, 200 */
	d = doc_https_up(3, tport, true);
	CHECK_EQ_INT(px_load(d, msg, sizeof msg), 0);
	free(d);
	CHECK_EQ_INT(get_status(px.port, "/hello"), 200);
	CHECK_EQ_INT(px_stats().upstream_tls_handshakes, 2);
	cl_close(c);
	free(c);
	teardown();
}

TEST_MAIN(basic_get, keepalive_both_sides, pipelined_requests, status_404_no_route,
	  status_502_refused_reset_malformed, status_504_response_header_timeout,
	  status_504_connect_timeout, status_503_no_healthy_server, status_400_malformed,
	  status_408_slow_client, status_413_body_too_large, status_414_431_head_caps,
	  large_head_buffer, fault_injection_recovers, cap_upstream_conns, cap_max_conns,
	  cap_buffers_wait_and_recover, status_429_maxconn, chunked_both_ways, large_bodies_stream,
	  expect_100_continue, head_204_304, http10_client, upstream_close_delimited,
	  retry_on_stale_keepalive, forwarded_and_hop_by_hop, custom_headers_and_sticky,
	  redirect_and_whitelist, websocket_echo, swap_during_long_request_and_tunnel,
	  swap_adds_and_removes_listeners, metrics_and_access_log, tls_sni_and_default_cert,
	  graceful_shutdown_drains, standalone_workers_reload_stop, auth_basic_and_digest,
	  tunnels_do_not_hold_tables, tls_keepalive_survives_reload,
	  https_upstream_keepalive_and_reload)
