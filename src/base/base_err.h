/* base_err.h — the one project-wide error enum.
 *
 * Every function that can fail returns 0 (or a non-negative count) on
 * success and a negative ERR_* code on failure. Codes are generated from
 * ERR_TABLE below, so name, number and message never disagree. errno is
 * converted at the syscall boundary with err_from_errno(); detail belongs
 * in the failing object's bounded errmsg, never in a new code.
 *
 * Codes that report a full pool name the setting that raises the cap, so an
 * operator reading "conns_full (max_conns)" knows which flag to change.
 */
#ifndef BASE_ERR_H
#define BASE_ERR_H

/* X(NAME, number, message). Numbers are stable: never reuse or renumber. */
#define ERR_TABLE(X)                                                        \
	X(OK, 0, "success")                                                 \
	X(NOMEM, 1, "out of memory at start-up")                           \
	X(INVAL, 2, "invalid argument")                                     \
	X(POOL_EMPTY, 3, "pool exhausted")                                  \
	X(ARENA_FULL, 4, "arena exhausted")                                 \
	X(BUF_FULL, 5, "buffer full")                                       \
	X(IO, 6, "input/output error")                                      \
	X(AGAIN, 7, "operation would block")                                \
	X(NOTFOUND, 8, "not found")                                         \
	X(EXISTS, 9, "already exists")                                      \
	X(RANGE, 10, "value out of range")                                  \
	X(PARSE, 11, "malformed input")                                     \
	X(PARTIAL, 12, "incomplete input")                                  \
	X(TOO_LARGE, 13, "input over a configured limit")                   \
	X(CLOSED, 14, "connection closed")                                  \
	X(TIMEOUT, 15, "timed out")                                         \
	X(PERM, 16, "permission denied")                                    \
	X(RAND, 17, "no entropy available")                                 \
	X(SYS, 18, "system call failed")                                    \
	X(LOOP_FULL, 19, "event loop full (max_fds / max_timers)")          \
	X(FAULT, 20, "injected fault")                                      \
	X(USAGE, 21, "invalid command line")                                \
	X(UNSUPPORTED, 22, "not supported")                                 \
	X(HTTP_LINE_TOO_LONG, 30, "request line over limit (max_line)")     \
	X(HTTP_TOO_MANY_HEADERS, 31, "too many header fields (max_headers)") \
	X(HTTP_HEADERS_TOO_LARGE, 32, "header section over limit (max_header_bytes)") \
	X(HTTP_BAD_FRAMING, 33, "ambiguous or invalid message framing")     \
	X(HTTP_BAD_CHUNK, 34, "invalid chunked encoding")                   \
	X(HTTP_BODY_TOO_LARGE, 35, "body over limit (max_body)")            \
	X(HTTP_UNKNOWN_CODING, 36, "unknown transfer coding")            \
	X(HTTP_BAD_HOST, 37, "missing, repeated or malformed Host")        \
	X(HTTP_BAD_VERSION, 38, "unsupported HTTP version")               \
	X(HTTP_TRAILER_TOO_LARGE, 39, "trailer section over limit (max_trailer_bytes)") \
	X(JSON_PARSE, 40, "malformed JSON")                                 \
	X(JSON_TOO_MANY_TOKENS, 41, "JSON document over token limit (max_tokens)") \
	X(JSON_TYPE, 42, "JSON value has the wrong type")                   \
	X(JSON_DEPTH, 43, "JSON nesting over limit")                        \
	X(JSON_DUP_KEY, 44, "duplicate key in JSON object")                \
	X(JSON_WRITE_ORDER, 45, "JSON writer call out of order")              \
	X(LOOP_CHILDREN_FULL, 50, "child table full (max_children)") \
	X(PKI_TOKEN_FORMAT, 80, "malformed join token") \
	X(PKI_TOKEN_ROLE, 81, "join token is for another node role") \
	X(PKI_CA_MISMATCH, 82, "cluster CA does not match the join token") \
	X(PKI_BAD_PROOF, 83, "join proof does not match the token") \
	X(PKI_CERT, 84, "malformed or unacceptable certificate") \
	X(PKI_KEY, 85, "malformed or unusable private key")

enum err {
#define ERR_ENUM_(name, num, msg) ERR_##name = num,
	ERR_TABLE(ERR_ENUM_)
#undef ERR_ENUM_
};

/* Identifier of a code ("POOL_EMPTY"); accepts e or -e. */
const char *err_name(int e);
/* Human message of a code; accepts e or -e; unknown codes give "unknown error". */
const char *err_str(int e);
/* Map an errno value to a negative project code. */
int err_from_errno(int errnum);

#endif
