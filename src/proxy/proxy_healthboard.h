/* proxy_healthboard.h — the health check verdicts of a data node's servers, shared by its
 * worker processes.
 *
 * Contract
 *   With one worker the engine probes every server and keeps the verdicts in its load
 *   balancer (proxy_health.c, private mode): no board. With N > 1 workers one worker, the
 *   one in slot 0 (the prober), probes and writes every verdict here; the others (followers)
 *   do not probe and copy the verdicts into their own load balancers a few times a second.
 *
 *   The master maps one zero-filled MAP_SHARED | MAP_ANONYMOUS region of
 *   proxy_hb_bytes(max_servers) bytes before forking and draws one SipHash key for the node.
 *   A verdict is named by a 64-bit key the caller computes (proxy_lb_srv_key: SipHash of the
 *   backend NAME and the server URL under the node's key, never 0), so a worker on the old
 *   routing table and one on the new agree on a server during a reload.
 *
 *   The region holds a header (the prober's epoch) and an open-addressing table of
 *   cap = the power of two >= 4 x max_servers entries {key, state}; state packs the epoch of
 *   the last write, a change counter and the up flag. A key lives within PROXY_HB_WINDOW
 *   slots of its home; lookups stop at an empty slot or the end of the window, so a miss
 *   costs at most PROXY_HB_WINDOW slot reads.
 *
 *   Single writer: only the prober writes (proxy_hb_set, proxy_hb_epoch_begin); the master
 *   starts a new prober in slot 0 only after reaping the old one, so there is never a
 *   second. Readers take no lock: a write of a new key into a slot stores key 0, then the
 *   state, then the key (release stores), and a reader reads key, state, key (acquire) and
 *   keeps the state only if both keys are its own. A reader that races a write sees "not on
 *   the board" and tries again at its next sync.
 *
 *   Epochs. The prober begins a new epoch whenever its current routing table changes (and
 *   when it starts: the epoch is in the region, so a restarted prober continues it). Every
 *   verdict it writes carries the epoch. Entries of older epochs stay readable (a server
 *   that is in the new table keeps its last verdict) but their slots may be taken by new
 *   keys, so removed servers do not fill the board. A table holds at most max_servers
 *   servers, so the current epoch fills at most a quarter of the table; a key finds no
 *   slot only when PROXY_HB_WINDOW slots from its home all hold current-epoch keys
 *   (-ERR_PROXY_SERVERS_FULL: the server's followers keep their own state, up for a new
 *   server; counted in st.full).
 *
 *   Nothing allocates; no clock, no randomness. Calls of one process must not overlap.
 */
#ifndef PROXY_HEALTHBOARD_H
#define PROXY_HEALTHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROXY_HB_WINDOW 32u             /* slots a key may lie from its home */
#define PROXY_HB_MAX_SERVERS (1u << 22) /* the cap of max_servers for a board */

struct proxy_hb_head;  /* the prober's epoch, its own cache line */
struct proxy_hb_entry; /* {key, state}, 16 bytes */

struct proxy_hb_stats {
	uint64_t full;    /* verdicts that found no slot (-ERR_PROXY_SERVERS_FULL) */
	uint64_t evicted; /* slots of an older epoch taken by a new key */
};

/* One process's view of the board. */
struct proxy_hb {
	struct proxy_hb_head *head;
	struct proxy_hb_entry *e; /* cap */
	uint32_t cap;             /* a power of two */
	uint32_t epoch;           /* the prober's current epoch (0 in a follower) */
	bool writer;              /* attached as the prober */
	uint64_t k0, k1;
	struct proxy_hb_stats st;
};

/* A verdict read from the board. */
struct proxy_hb_verdict {
	bool up;
	uint32_t changes; /* times the flag changed (31 bits, wrapping) */
	uint32_t epoch;   /* the prober's epoch when it was written */
};

/* Bytes to map for tables of at most max_servers servers (a multiple of 64): 64 of header,
 * then cap x 16. 0 when max_servers is 0 or over PROXY_HB_MAX_SERVERS. */
size_t proxy_hb_bytes(uint32_t max_servers);

/* Attach mem (proxy_hb_bytes(max_servers) bytes at least, 64-byte aligned, zero-filled when
 * mapped). writer: the prober. (k0, k1): the node's SipHash key, kept for the caller's
 * hashing. 0 or -ERR_INVAL. */
int proxy_hb_attach(struct proxy_hb *hb, void *mem, size_t bytes, uint32_t max_servers, bool writer,
		    uint64_t k0, uint64_t k1);

/* The prober: a new routing table is current (entries of older epochs become reusable). */
void proxy_hb_epoch_begin(struct proxy_hb *hb);

/* The prober: the verdict for key (!= 0), written in the current epoch (the change counter
 * moves when the flag changes). 0 or -ERR_PROXY_SERVERS_FULL (see above). */
int proxy_hb_set(struct proxy_hb *hb, uint64_t key, bool up);

/* The last verdict for key: 0 and *out, or -ERR_NOTFOUND (never written, its slot taken by a
 * newer key, or a write racing this read). Any process. */
int proxy_hb_get(const struct proxy_hb *hb, uint64_t key, struct proxy_hb_verdict *out);

#endif
