/* base_log.h — logfmt lines on stderr.
 *
 *   time=2026-11-26T22:24:45.123Z level=info msg="node joined" id=3k2… role=data
 *
 * One line per call, written with a single write(2) so lines from several
 * processes sharing a terminal or file do not interleave. A line is at
 * most LOG_LINE_MAX bytes; longer ones are cut and end in "…".
 *
 * The sink (level, fd) is process-wide: set once at start-up by main
 * before anything logs; it is the only mutable global outside the loop.
 */
#ifndef BASE_LOG_H
#define BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

#define LOG_LINE_MAX 1024

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Where lines go (default 2, stderr). */
void log_set_fd(int fd);
/* "debug", "info", "warn"/"warning", "error", "off" -> 0 and *out, else -ERR_INVAL. */
int log_level_parse(const char *name, enum log_level *out);

/* A copy of every line written (newline included), for an in-memory log (the control node's
 * GET /logs). The tap must not log. NULL turns it off. */
typedef void (*log_tap_fn)(void *ctx, enum log_level level, const char *line, size_t len);
void log_set_tap(log_tap_fn fn, void *ctx);

/* msg is quoted and escaped; kv is printf-formatted logfmt pairs
 * ("addr=%s port=%d") appended as is, or NULL. Use log_q for values that
 * may hold spaces, quotes or control characters. */
void log_write(enum log_level level, const char *msg, const char *kv, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level level, const char *msg, const char *kv, va_list ap);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

/* A logfmt value: s as is when it needs no quoting, else "…" with \" \\ \n
 * \t and \xNN escapes. Written to out (cap bytes, cut if needed); returns out. */
const char *log_q(char *out, size_t cap, const char *s);

#endif
