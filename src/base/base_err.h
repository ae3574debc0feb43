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
/* clang-format off */
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
	X(HTTP_UNKNOWN_CODING, 36, "unknown transfer coding")               \
	X(HTTP_BAD_HOST, 37, "missing, repeated or malformed Host")         \
	X(HTTP_BAD_VERSION, 38, "unsupported HTTP version")                 \
	X(HTTP_TRAILER_TOO_LARGE, 39, "trailer section over limit (max_trailer_bytes)") \
	X(JSON_PARSE, 40, "malformed JSON")                                 \
	X(JSON_TOO_MANY_TOKENS, 41, "JSON document over token limit (max_tokens)") \
	X(JSON_TYPE, 42, "JSON value has the wrong type")                   \
	X(JSON_DEPTH, 43, "JSON nesting over limit")                        \
	X(JSON_DUP_KEY, 44, "duplicate key in JSON object")                \
	X(JSON_WRITE_ORDER, 45, "JSON writer call out of order")              \
	X(LOOP_CHILDREN_FULL, 50, "child table full (max_children)") \
	X(RAFT_NOT_LEADER, 60, "not the raft leader") \
	X(RAFT_LOG_FULL, 61, "raft log full (max_log_entries, window_entries, window_bytes)") \
	X(RAFT_ENTRY_TOO_LARGE, 62, "raft entry over limit (max_entry_bytes)") \
	X(RAFT_CONF_PENDING, 63, "a raft membership change is still in progress") \
	X(RAFT_TRANSFERRING, 64, "raft leadership transfer in progress") \
	X(RAFT_NOT_CAUGHT_UP, 65, "raft learner has not caught up yet") \
	X(RAFT_READS_FULL, 66, "too many pending raft reads (max_pending_reads)") \
	X(RAFT_TOO_MANY_VOTERS, 67, "too many raft voters (max_voters)") \
	X(RAFT_TOO_MANY_SERVERS, 68, "too many raft servers (max_servers)") \
	X(RAFT_BUSY, 69, "raft ready handed out and not yet acknowledged") \
	X(RAFT_STORAGE, 70, "raft storage callback failed") \
	X(PKI_TOKEN_FORMAT, 80, "malformed join token") \
	X(PKI_TOKEN_ROLE, 81, "join token is for another node role") \
	X(PKI_CA_MISMATCH, 82, "cluster CA does not match the join token") \
	X(PKI_BAD_PROOF, 83, "join proof does not match the token") \
	X(PKI_CERT, 84, "malformed or unacceptable certificate") \
	X(PKI_KEY, 85, "malformed or unusable private key") \
	X(STORE_FULL, 90, "state directory full (map_size)") \
	X(STORE_CORRUPT, 91, "state directory corrupt") \
	X(STORE_FOREIGN, 92, "state directory not written by traefikee") \
	X(STORE_VERSION, 93, "state directory from a newer version") \
	X(STORE_LOCKED, 94, "state directory in use by another process") \
	X(STORE_READERS_FULL, 95, "too many store read transactions (max_readers)") \
	X(STORE_TABLES_FULL, 96, "too many state machine tables (max_dbs)") \
	X(STORE_PANIC, 97, "state store failed fatally; reopen it") \
	X(STORE_ENTRY_TOO_LARGE, 98, "log entry or snapshot chunk over limit (max_entry)") \
	X(STORE_BATCH_TOO_LARGE, 99, "too many entries in one store write (max_batch)") \
	X(TLS_HANDSHAKE, 100, "TLS handshake failed") \
	X(TLS_CERT, 101, "certificate rejected") \
	X(TLS_PROTOCOL, 102, "TLS protocol error") \
	X(TLS_TRUNCATED, 103, "TLS stream cut without close_notify") \
	X(TLS_CONFIG, 104, "invalid TLS configuration") \
	X(TLS_PEM, 105, "malformed PEM, certificate or key") \
	X(TLS_CHAIN_FULL, 106, "certificate chain over limit (TLS_CHAIN_MAX)") \
	X(TLS_SNI_FULL, 107, "server certificates over limit (TLS_SNI_MAX)") \
	X(TLS_TA_FULL, 108, "trust anchors over limit (TLS_TA_MAX)") \
	X(TLS_STORE_FULL, 109, "TLS configuration store full (store size)") \
	X(PROXY_CONFIG, 110, "invalid routing document") \
	X(PROXY_VERSION, 111, "routing document version not supported") \
	X(PROXY_ENTRYPOINTS_FULL, 112, "too many entry points (max_entrypoints)") \
	X(PROXY_FRONTENDS_FULL, 113, "too many frontends (max_frontends)") \
	X(PROXY_BACKENDS_FULL, 114, "too many backends (max_backends)") \
	X(PROXY_SERVERS_FULL, 115, "too many servers (max_servers)") \
	X(PROXY_ROUTES_FULL, 116, "too many routes (max_routes)") \
	X(PROXY_RULE_TOO_LONG, 117, "rule over limit (max_rule_bytes)") \
	X(PROXY_MATCHERS_FULL, 118, "too many rule values (max_matchers)") \
	X(PROXY_REGEX_TOO_BIG, 119, "regular expressions over limit (max_regex_insts)") \
	X(PROXY_CERTS_FULL, 120, "too many certificates (max_certs)") \
	X(PROXY_CERT_TOO_LARGE, 121, "certificates over limit (max_cert_bytes)") \
	X(PROXY_DOC_TOO_LARGE, 122, "routing document over limit (max_doc_bytes)") \
	X(PROXY_LIST_TOO_LONG, 123, "too many list or map items (max_list_items)") \
	X(PROXY_RULE, 124, "invalid routing rule") \
	X(PROXY_NO_SERVER, 125, "no healthy server in the backend") \
	X(PROXY_MAXCONN, 126, "maxConn reached for this key") \
	X(PROXY_CONN_KEYS_FULL, 127, "maxConn key table full (max_conn_keys)") \
	X(PROXY_ENTRYPOINT, 128, "invalid --entryPoints value") \
	X(PROXY_CONNS_FULL, 160, "connection pool full (max_conns)") \
	X(PROXY_UPSTREAMS_FULL, 161, "upstream connection pool full (max_upstream_conns)") \
	X(PROXY_BUFS_FULL, 162, "I/O buffers exhausted (max_bufs)") \
	X(PROXY_LARGE_BUFS_FULL, 163, "large header buffers exhausted (max_large_bufs)") \
	X(PROXY_TLS_FULL, 164, "TLS connection pool full (max_tls_conns)") \
	X(PROXY_TABLES_FULL, 165, "routing tables still in use over limit (max_tables)") \
	X(PROXY_LISTEN, 166, "cannot listen on an entry point address") \
	X(PROXY_UPSTREAM_REFUSED, 167, "upstream refused or reset the connection") \
	X(PROXY_UPSTREAM_MALFORMED, 168, "malformed upstream response") \
	X(PROXY_UPSTREAM_TIMEOUT, 169, "upstream timed out") \
	X(PROXY_TARGETS_FULL, 170, "upstream address table full (max_targets)") \
	X(PROXY_HEALTH_FULL, 171, "health check pool full (max_health_checks)") \
	X(PROXY_LIMITS, 172, "invalid proxy limits") \
	X(PROXY_METRICS_FULL, 173, "metric series table full (max_metric_series)") \
	X(PROXY_RESOLVE, 174, "cannot resolve a server address") \
	X(PROVIDER_CONFIG, 130, "invalid provider configuration (provider flags)") \
	X(PROVIDER_DOC_TOO_LARGE, 131, "provider routing document over limit (max_doc_bytes)") \
	X(PROVIDER_TOO_MANY_KEYS, 132, "too many keys under the provider prefix (max_keys)") \
	X(PROVIDER_RESPONSE_TOO_LARGE, 133, "provider response over limit (max_response_bytes)") \
	X(PROVIDER_AUTH, 134, "provider refused the credentials (token, username, password)") \
	X(PROVIDER_STATUS, 135, "unexpected HTTP status from the provider") \
	X(PROVIDER_COMPACTED, 136, "etcd revision compacted; re-listing") \
	X(PROVIDER_PROXY, 137, "HTTP proxy refused the CONNECT tunnel") \
	X(PROVIDER_FILE, 138, "invalid provider file") \
	X(PROVIDER_STALE, 139, "provider store answered an older revision than the one applied") \
	X(API_NOT_FOUND, 150, "no such API endpoint") \
	X(API_METHOD, 151, "method not allowed on this API endpoint") \
	X(API_FORBIDDEN, 152, "the caller's role may not use this API endpoint") \
	X(API_CLIENTS_FULL, 153, "too many API clients (max_clients)") \
	X(API_TLS_CLIENTS_FULL, 154, "too many TLS API clients (max_tls_clients)") \
	X(API_RESP_TOO_LARGE, 155, "API response over limit (max_resp)") \
	X(API_ROUTES_FULL, 156, "too many API routes (max_routes)") \
	X(API_CONNECT, 157, "cannot connect to the API") \
	X(API_LISTENERS_FULL, 158, "too many API listeners (API_LISTENERS_MAX)") \
	X(API_CREDS, 159, "missing or unusable API credentials") \
	X(CLUSTER_CMD, 180, "malformed cluster command") \
	X(CLUSTER_CMD_VERSION, 181, "cluster command from a newer version") \
	X(CLUSTER_NOT_INIT, 182, "cluster not initialised yet") \
	X(CLUSTER_INITIALISED, 183, "cluster already initialised") \
	X(CLUSTER_NODES_FULL, 184, "too many nodes (max_nodes)") \
	X(CLUSTER_ROUTING_TOO_LARGE, 185, "routing document over limit (max_routing_bytes)") \
	X(CLUSTER_DEPLOY_TOO_LARGE, 186, "static configuration over limit (max_deploy_bytes)") \
	X(CLUSTER_REVOKED_FULL, 187, "too many revoked certificates (max_revoked)") \
	X(CLUSTER_STALE, 188, "based on an older state (a routing revision not newer, a certificate renewed since)") \
	X(CLUSTER_DEPLOY, 189, "invalid static configuration") \
	X(CLUSTER_AMBIGUOUS, 190, "several nodes have this name; use the node ID") \
	X(CLUSTER_UNCHANGED, 191, "nothing to change") \
	X(CLUSTER_NODE_UP, 192, "node is still READY; stop it first or force the removal") \
	X(CLUSTER_LIMITS, 193, "cluster limit out of bounds or below current use") \
	X(CLUSTER_SNAPSHOT, 194, "malformed state machine snapshot") \
	X(CLUSTER_BACKUP, 195, "invalid backup archive") \
	X(CLUSTER_BACKUP_VERSION, 196, "backup archive from a newer version") \
	X(CLUSTER_REVOKED, 197, "certificate serial is revoked") \
	X(CLUSTER_TOKEN, 198, "join token does not match its verifier, role or cluster CA") \
	X(CLUSTER_UPGRADE, 199, "a control node runs an older build that cannot apply this change")
/* clang-format on */

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
