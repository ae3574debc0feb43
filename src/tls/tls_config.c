/* tls_config.c — server and client configurations: PEM loading (certificate
 * chains, private keys, trust anchors) into the caller's store, caps, and
 * the SNI choice of a server certificate.
 *
 * Memory: every variable-size thing (DER certificates, key elements, DNs,
 * anchor keys, SNI names) is appended to the config's store, a byte region
 * the caller gave to *_config_init; fixed-size tables live in the config
 * struct. A loader that fails puts the store length and the table counts
 * back where they were, so a refused call changes nothing. Decoder contexts
 * (BearSSL PEM, X.509, private key: about 4 KiB together) are on the stack of
 * the loading call only; this runs at start-up, never on the data path.
 */
#include "tls/tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/base_err.h"
#include "tls/tls_p256.h"

static void cfg_errmsg(char *errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cfg_errmsg(char *errmsg, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, TLS_ERRMSG_MAX, fmt, ap);
	va_end(ap);
}

/* Store ----------------------------------------------------------------------- */

static void store_init(struct tls_store *s, void *mem, size_t cap)
{
	s->mem = mem;
	s->cap = cap;
	s->len = 0;
	s->overflow = false;
}

/* Append n bytes; returns where they went, or NULL (and sets overflow) when
 * they do not fit. */
static uint8_t *store_put(struct tls_store *s, const void *p, size_t n)
{
	if (s->overflow || n > s->cap - s->len) {
		s->overflow = true;
		return NULL;
	}
	uint8_t *dst = s->mem + s->len;
	if (n)
		memcpy(dst, p, n);
	s->len += n;
	return dst;
}

/* PEM walking ----------------------------------------------------------------- */

typedef void (*pem_dest_fn)(void *ctx, const void *p, size_t n);

struct pem_ops {
	/* At "-----BEGIN name": 1 (and a destination) to take the object, 0 to
	 * skip it, or a negative error that stops the walk. */
	int (*begin)(void *ctx, const char *name, pem_dest_fn *dest, void **dest_ctx);
	/* At the end of a taken object: 0 or a negative error. */
	int (*end)(void *ctx);
};

/* Feed every object of pem[0..len) through ops. A final newline is added so
 * a file without one still ends its last object. -ERR_TLS_PEM for Base64
 * errors or an object left open. */
static int pem_walk(const void *pem, size_t len, const struct pem_ops *ops, void *ctx, char *errmsg)
{
	br_pem_decoder_context pc;
	const uint8_t *p = pem;
	bool tail = false, inside = false, taking = false;

	if (!pem && len)
		return -ERR_INVAL;
	br_pem_decoder_init(&pc);
	for (;;) {
		if (len == 0) {
			if (tail)
				break;
			p = (const uint8_t *)"\n";
			len = 1;
			tail = true;
		}
		size_t n = br_pem_decoder_push(&pc, p, len);
		p += n;
		len -= n;
		int ev = br_pem_decoder_event(&pc);
		if (ev == BR_PEM_BEGIN_OBJ) {
			pem_dest_fn dest = NULL;
			void *dctx = NULL;
			/* BearSSL 0.6 keeps the dashes of a "-----BEGIN X-----\r\n"
			 * banner (the CR breaks its trimming): trim them here. */
			char name[128];
			snprintf(name, sizeof name, "%s", br_pem_decoder_name(&pc));
			size_t nl = strlen(name);
			while (nl && (name[nl - 1] == '-' || name[nl - 1] == ' '))
				name[--nl] = 0;
			int r = ops->begin(ctx, name, &dest, &dctx);
			if (r < 0)
				return r;
			inside = true;
			taking = r > 0;
			br_pem_decoder_setdest(&pc, taking ? dest : NULL, taking ? dctx : NULL);
		} else if (ev == BR_PEM_END_OBJ) {
			if (inside && taking) {
				int r = ops->end(ctx);
				if (r < 0)
					return r;
			}
			inside = taking = false;
			br_pem_decoder_setdest(&pc, NULL, NULL);
		} else if (ev == BR_PEM_ERROR) {
			cfg_errmsg(errmsg, "malformed PEM (bad Base64 or banner)");
			return -ERR_TLS_PEM;
		} else if (n == 0) {
			break; /* no progress and no event: cannot happen, but never spin */
		}
	}
	if (inside) {
		cfg_errmsg(errmsg, "truncated PEM object (no END line)");
		return -ERR_TLS_PEM;
	}
	return 0;
}

static bool is_cert_banner(const char *name)
{
	return strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0;
}

/* Certificate chains and keys ---------------------------------------------------- */

struct chain_load {
	struct tls_store *st;
	struct tls_chain *ch;
	char *errmsg;
	size_t start; /* store offset of the certificate being read */
	br_x509_decoder_context dec;
};

static void chain_dest(void *ctx, const void *p, size_t n)
{
	struct chain_load *L = ctx;
	store_put(L->st, p, n);
	br_x509_decoder_push(&L->dec, p, n);
}

static int chain_begin(void *ctx, const char *name, pem_dest_fn *dest, void **dctx)
{
	struct chain_load *L = ctx;

	if (!is_cert_banner(name))
		return 0;
	if (L->ch->ncerts == TLS_CHAIN_MAX) {
		cfg_errmsg(L->errmsg, "more than %d certificates in the chain (TLS_CHAIN_MAX)",
			   TLS_CHAIN_MAX);
		return -ERR_TLS_CHAIN_FULL;
	}
	L->start = L->st->len;
	br_x509_decoder_init(&L->dec, NULL, NULL);
	*dest = chain_dest;
	*dctx = L;
	return 1;
}

static int chain_end(void *ctx)
{
	struct chain_load *L = ctx;
	struct tls_chain *ch = L->ch;

	if (L->st->overflow) {
		cfg_errmsg(L->errmsg, "store full (%zu bytes) at certificate %zu of the chain",
			   L->st->cap, ch->ncerts + 1);
		return -ERR_TLS_STORE_FULL;
	}
	int e = br_x509_decoder_last_error(&L->dec);
	if (e) {
		cfg_errmsg(L->errmsg, "certificate %zu of the chain: %s", ch->ncerts + 1,
			   tls_br_err_name(e));
		return -ERR_TLS_PEM;
	}
	if (ch->ncerts == 0)
		ch->issuer_key_type = (unsigned)br_x509_decoder_get_signer_key_type(&L->dec);
	ch->certs[ch->ncerts].data = L->st->mem + L->start;
	ch->certs[ch->ncerts].data_len = L->st->len - L->start;
	ch->ncerts++;
	return 0;
}

struct key_load {
	char *errmsg;
	int found;
	br_skey_decoder_context dec;
};

static void key_dest(void *ctx, const void *p, size_t n)
{
	struct key_load *K = ctx;
	br_skey_decoder_push(&K->dec, p, n);
}

static int key_begin(void *ctx, const char *name, pem_dest_fn *dest, void **dctx)
{
	struct key_load *K = ctx;

	if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
		cfg_errmsg(K->errmsg, "encrypted private keys are not supported");
		return -ERR_TLS_PEM;
	}
	if (strcmp(name, BR_ENCODE_PEM_EC_RAW) != 0 && strcmp(name, BR_ENCODE_PEM_RSA_RAW) != 0 &&
	    strcmp(name, BR_ENCODE_PEM_PKCS8) != 0)
		return 0; /* "EC PARAMETERS" and the like */
	if (K->found) {
		cfg_errmsg(K->errmsg, "more than one private key in the key PEM");
		return -ERR_TLS_PEM;
	}
	br_skey_decoder_init(&K->dec);
	*dest = key_dest;
	*dctx = K;
	return 1;
}

static int key_end(void *ctx)
{
	struct key_load *K = ctx;
	int e = br_skey_decoder_last_error(&K->dec);
	if (e) {
		cfg_errmsg(K->errmsg, "private key: %s", tls_br_err_name(e));
		return -ERR_TLS_PEM;
	}
	K->found = 1;
	return 0;
}

/* Copy the decoded key's elements into the store and point ch->key at them. */
static int key_store(struct tls_store *st, struct tls_chain *ch, const br_skey_decoder_context *dec)
{
	const br_ec_private_key *ec = br_skey_decoder_get_ec(dec);
	const br_rsa_private_key *rsa = br_skey_decoder_get_rsa(dec);

	if (ec) {
		ch->key_type = BR_KEYTYPE_EC;
		ch->key.ec.curve = ec->curve;
		ch->key.ec.xlen = ec->xlen;
		ch->key.ec.x = store_put(st, ec->x, ec->xlen);
	} else if (rsa) {
		ch->key_type = BR_KEYTYPE_RSA;
		ch->key.rsa.n_bitlen = rsa->n_bitlen;
		ch->key.rsa.plen = rsa->plen;
		ch->key.rsa.qlen = rsa->qlen;
		ch->key.rsa.dplen = rsa->dplen;
		ch->key.rsa.dqlen = rsa->dqlen;
		ch->key.rsa.iqlen = rsa->iqlen;
		ch->key.rsa.p = store_put(st, rsa->p, rsa->plen);
		ch->key.rsa.q = store_put(st, rsa->q, rsa->qlen);
		ch->key.rsa.dp = store_put(st, rsa->dp, rsa->dplen);
		ch->key.rsa.dq = store_put(st, rsa->dq, rsa->dqlen);
		ch->key.rsa.iq = store_put(st, rsa->iq, rsa->iqlen);
	} else {
		return -ERR_TLS_PEM;
	}
	return st->overflow ? -ERR_TLS_STORE_FULL : 0;
}

/* Strip leading zero bytes of a big-endian integer. */
static const uint8_t *be_trim(const uint8_t *p, size_t *n)
{
	while (*n > 0 && *p == 0) {
		p++;
		(*n)--;
	}
	return p;
}

/* Does the private key belong to the leaf certificate? */
static int key_matches_leaf(const struct tls_chain *ch, char *errmsg)
{
	br_x509_decoder_context dec;

	br_x509_decoder_init(&dec, NULL, NULL);
	br_x509_decoder_push(&dec, ch->certs[0].data, ch->certs[0].data_len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dec);
	if (!pk) {
		cfg_errmsg(errmsg, "leaf certificate: %s",
			   tls_br_err_name(br_x509_decoder_last_error(&dec)));
		return -ERR_TLS_PEM;
	}
	if (pk->key_type != ch->key_type) {
		cfg_errmsg(errmsg, "private key type does not match the leaf certificate");
		return -ERR_TLS_CONFIG;
	}
	if (ch->key_type == BR_KEYTYPE_EC) {
		uint8_t buf[BR_EC_KBUF_PUB_MAX_SIZE];
		br_ec_public_key pub;
		if (!br_ec_compute_pub(&tls_p256_ec_all, &pub, buf, &ch->key.ec)) {
			cfg_errmsg(errmsg, "unsupported EC curve %d", ch->key.ec.curve);
			return -ERR_TLS_CONFIG;
		}
		if (pub.curve != pk->key.ec.curve || pub.qlen != pk->key.ec.qlen ||
		    memcmp(pub.q, pk->key.ec.q, pub.qlen) != 0) {
			cfg_errmsg(errmsg, "private key does not match the leaf certificate");
			return -ERR_TLS_CONFIG;
		}
		return 0;
	}
	uint8_t nbuf[BR_X509_BUFSIZE_KEY];
	br_rsa_compute_modulus modulus = br_rsa_compute_modulus_get_default();
	size_t nlen = modulus(NULL, &ch->key.rsa);
	if (nlen == 0 || nlen > sizeof nbuf || modulus(nbuf, &ch->key.rsa) != nlen) {
		cfg_errmsg(errmsg, "unusable RSA private key");
		return -ERR_TLS_CONFIG;
	}
	size_t clen = pk->key.rsa.nlen;
	const uint8_t *cn = be_trim(pk->key.rsa.n, &clen);
	const uint8_t *kn = be_trim(nbuf, &nlen);
	if (clen != nlen || memcmp(cn, kn, nlen) != 0) {
		cfg_errmsg(errmsg, "private key does not match the leaf certificate");
		return -ERR_TLS_CONFIG;
	}
	return 0;
}

/* Load chain + key into *out. On failure the store is rolled back and *out
 * is untouched. */
static int chain_load(struct tls_store *st, struct tls_chain *out, const void *chain_pem,
		      size_t chain_pem_len, const void *key_pem, size_t key_pem_len, char *errmsg)
{
	static const struct pem_ops chain_ops = {chain_begin, chain_end};
	static const struct pem_ops key_ops = {key_begin, key_end};
	struct tls_chain ch;
	struct chain_load L;
	struct key_load K;
	size_t mark = st->len;
	int r;

	if ((!chain_pem && chain_pem_len) || (!key_pem && key_pem_len))
		return -ERR_INVAL;
	memset(&ch, 0, sizeof ch);
	st->overflow = false;
	L.st = st;
	L.ch = &ch;
	L.errmsg = errmsg;
	L.start = 0;
	r = pem_walk(chain_pem, chain_pem_len, &chain_ops, &L, errmsg);
	if (r == 0 && ch.ncerts == 0) {
		cfg_errmsg(errmsg, "no CERTIFICATE in the chain PEM");
		r = -ERR_TLS_PEM;
	}
	if (r == 0) {
		K.errmsg = errmsg;
		K.found = 0;
		r = pem_walk(key_pem, key_pem_len, &key_ops, &K, errmsg);
		if (r == 0 && !K.found) {
			cfg_errmsg(errmsg, "no private key in the key PEM");
			r = -ERR_TLS_PEM;
		}
		if (r == 0) {
			r = key_store(st, &ch, &K.dec);
			if (r == -ERR_TLS_STORE_FULL)
				cfg_errmsg(errmsg, "store full (%zu bytes) at the private key",
					   st->cap);
			else if (r)
				cfg_errmsg(errmsg, "unsupported private key");
		}
		memset(&K.dec, 0, sizeof K.dec); /* wipe key material off the stack */
	}
	if (r == 0)
		r = key_matches_leaf(&ch, errmsg);
	if (r) {
		if (st->len > mark)
			memset(st->mem + mark, 0, st->len - mark);
		st->len = mark;
		st->overflow = false;
		return r;
	}
	*out = ch;
	return 0;
}

/* Trust anchors ----------------------------------------------------------------- */

struct ta_load {
	struct tls_store *st;
	struct tls_verify *v;
	char *errmsg;
	size_t start; /* store offset of the DN being captured */
	br_x509_decoder_context dec;
};

static void ta_dn(void *ctx, const void *p, size_t n)
{
	struct ta_load *T = ctx;
	store_put(T->st, p, n);
}

static void ta_dest(void *ctx, const void *p, size_t n)
{
	struct ta_load *T = ctx;
	br_x509_decoder_push(&T->dec, p, n);
}

static int ta_begin(void *ctx, const char *name, pem_dest_fn *dest, void **dctx)
{
	struct ta_load *T = ctx;

	if (!is_cert_banner(name))
		return 0;
	if (T->v->ntas == TLS_TA_MAX) {
		cfg_errmsg(T->errmsg, "more than %d trust anchors (TLS_TA_MAX)", TLS_TA_MAX);
		return -ERR_TLS_TA_FULL;
	}
	T->start = T->st->len;
	br_x509_decoder_init(&T->dec, ta_dn, T);
	*dest = ta_dest;
	*dctx = T;
	return 1;
}

static int ta_end(void *ctx)
{
	struct ta_load *T = ctx;
	struct tls_store *st = T->st;
	br_x509_trust_anchor *ta = &T->v->tas[T->v->ntas];

	int e = br_x509_decoder_last_error(&T->dec);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&T->dec);
	if (e || !pk) {
		cfg_errmsg(T->errmsg, "CA certificate %zu: %s", T->v->ntas + 1, tls_br_err_name(e));
		return -ERR_TLS_PEM;
	}
	memset(ta, 0, sizeof *ta);
	ta->dn.data = st->mem + T->start;
	ta->dn.len = st->len - T->start;
	ta->flags = br_x509_decoder_isCA(&T->dec) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_EC) {
		ta->pkey.key.ec.curve = pk->key.ec.curve;
		ta->pkey.key.ec.qlen = pk->key.ec.qlen;
		ta->pkey.key.ec.q = store_put(st, pk->key.ec.q, pk->key.ec.qlen);
	} else {
		ta->pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta->pkey.key.rsa.elen = pk->key.rsa.elen;
		ta->pkey.key.rsa.n = store_put(st, pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.e = store_put(st, pk->key.rsa.e, pk->key.rsa.elen);
	}
	if (st->overflow) {
		cfg_errmsg(T->errmsg, "store full (%zu bytes) at CA certificate %zu", st->cap,
			   T->v->ntas + 1);
		return -ERR_TLS_STORE_FULL;
	}
	T->v->ntas++;
	return 0;
}

/* Append the anchors of pem to v; all or nothing. Returns how many. */
static int ta_load_pem(struct tls_store *st, struct tls_verify *v, const void *pem, size_t len,
		       char *errmsg)
{
	static const struct pem_ops ops = {ta_begin, ta_end};
	struct ta_load T;
	size_t mark = st->len, ntas = v->ntas;

	st->overflow = false;
	T.st = st;
	T.v = v;
	T.errmsg = errmsg;
	T.start = 0;
	int r = pem_walk(pem, len, &ops, &T, errmsg);
	if (r == 0 && v->ntas == ntas) {
		cfg_errmsg(errmsg, "no CERTIFICATE in the CA PEM");
		r = -ERR_TLS_PEM;
	}
	if (r) {
		st->len = mark;
		st->overflow = false;
		v->ntas = ntas;
		return r;
	}
	return (int)(v->ntas - ntas);
}

/* SNI names ------------------------------------------------------------------------ */

static bool name_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
	       ch == '_';
}

/* Normalise "A.test, *.B.test" into the store as "a.test,*.b.test". */
static int names_store(struct tls_store *st, const char *names, const char **out, char *errmsg)
{
	static const char none[] = "";
	const char *p = names;

	*out = none;
	if (!names || !*names)
		return 0;
	size_t start = st->len;
	bool first = true;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *b = p;
		while (*p && *p != ',')
			p++;
		const char *e = p;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		size_t n = (size_t)(e - b);
		size_t skip = n >= 2 && b[0] == '*' && b[1] == '.' ? 2 : 0;
		if (n == skip || n > 253) {
			cfg_errmsg(errmsg, "bad SNI name in \"%s\"", names);
			return -ERR_TLS_CONFIG;
		}
		for (size_t i = skip; i < n; i++) {
			char ch = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + ('a' - 'A')) : b[i];
			if (!name_char_ok(ch)) {
				cfg_errmsg(errmsg, "bad SNI name \"%.*s\"", (int)n, b);
				return -ERR_TLS_CONFIG;
			}
		}
		if (!first)
			store_put(st, ",", 1);
		for (size_t i = 0; i < n; i++) {
			char ch = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] + ('a' - 'A')) : b[i];
			store_put(st, &ch, 1);
		}
		first = false;
		if (*p == ',')
			p++;
	}
	store_put(st, "", 1);
	if (st->overflow) {
		cfg_errmsg(errmsg, "store full (%zu bytes) at the SNI names", st->cap);
		return -ERR_TLS_STORE_FULL;
	}
	*out = (const char *)st->mem + start;
	return 0;
}

int tls_server_pick_(const struct tls_server_config *cfg, const char *sni)
{
	if (!cfg->ncerts)
		return -1;
	if (sni && *sni) {
		for (int wild = 0; wild < 2; wild++) {
			for (size_t i = 0; i < cfg->ncerts; i++) {
				const char *p = cfg->certs[i].names;
				while (*p) {
					const char *e = strchr(p, ',');
					size_t n = e ? (size_t)(e - p) : strlen(p);
					bool is_wild = n >= 2 && p[0] == '*';
					if (is_wild == (wild == 1) && tls_name_match_n_(p, n, sni))
						return (int)i;
					p += n;
					if (*p == ',')
						p++;
				}
			}
		}
	}
	if (cfg->sni_strict)
		return -1;
	return (int)cfg->default_cert;
}

/* Server configuration ------------------------------------------------------------- */

int tls_server_config_init(struct tls_server_config *cfg, void *store, size_t store_cap)
{
	if (!cfg || (!store && store_cap))
		return -ERR_INVAL;
	memset(cfg, 0, sizeof *cfg);
	store_init(&cfg->store, store, store_cap);
	return 0;
}

int tls_server_enable_session_cache(struct tls_server_config *cfg, size_t bytes)
{
	if (!cfg || bytes < 4096)
		return -ERR_INVAL;
	struct tls_store *st = &cfg->store;
	size_t pad = (8 - ((uintptr_t)(st->mem + st->len) & 7)) & 7;
	if (st->overflow || pad + bytes > st->cap - st->len) {
		cfg_errmsg(cfg->errmsg, "no room for a %zu-byte session cache", bytes);
		return -ERR_TLS_STORE_FULL;
	}
	st->len += pad;
	br_ssl_session_cache_lru_init(&cfg->cache, st->mem + st->len, bytes);
	st->len += bytes;
	cfg->has_cache = true;
	return 0;
}

int tls_server_add_cert(struct tls_server_config *cfg, const char *names, const void *chain_pem,
			size_t chain_pem_len, const void *key_pem, size_t key_pem_len,
			unsigned flags)
{
	struct tls_store *st = &cfg->store;

	if (flags & ~TLS_CERT_DEFAULT)
		return -ERR_INVAL;
	if (cfg->ncerts == TLS_SNI_MAX) {
		cfg_errmsg(cfg->errmsg, "more than %d server certificates (TLS_SNI_MAX)",
			   TLS_SNI_MAX);
		return -ERR_TLS_SNI_FULL;
	}
	if ((flags & TLS_CERT_DEFAULT) && cfg->has_default) {
		cfg_errmsg(cfg->errmsg, "two default server certificates");
		return -ERR_TLS_CONFIG;
	}
	size_t mark = st->len;
	struct tls_server_cert *ent = &cfg->certs[cfg->ncerts];
	struct tls_chain ch;
	int r = chain_load(st, &ch, chain_pem, chain_pem_len, key_pem, key_pem_len, cfg->errmsg);
	if (r)
		return r;
	const char *stored;
	r = names_store(st, names, &stored, cfg->errmsg);
	if (r) {
		memset(st->mem + mark, 0, st->len - mark);
		st->len = mark;
		st->overflow = false;
		return r;
	}
	ent->chain = ch;
	ent->names = stored;
	if (flags & TLS_CERT_DEFAULT) {
		cfg->default_cert = cfg->ncerts;
		cfg->has_default = true;
	}
	return (int)cfg->ncerts++;
}

int tls_server_add_client_ca(struct tls_server_config *cfg, const void *pem, size_t pem_len)
{
	return ta_load_pem(&cfg->store, &cfg->verify, pem, pem_len, cfg->errmsg);
}

int tls_server_set_client_auth(struct tls_server_config *cfg, enum tls_client_auth mode)
{
	if (mode != TLS_CLIENT_AUTH_NONE && mode != TLS_CLIENT_AUTH_OPTIONAL &&
	    mode != TLS_CLIENT_AUTH_REQUIRED)
		return -ERR_INVAL;
	if (mode != TLS_CLIENT_AUTH_NONE && cfg->verify.ntas == 0) {
		cfg_errmsg(cfg->errmsg, "client authentication needs a client CA");
		return -ERR_TLS_CONFIG;
	}
	cfg->client_auth = mode;
	return 0;
}

void tls_server_set_sni_strict(struct tls_server_config *cfg, bool strict)
{
	cfg->sni_strict = strict;
}

void tls_server_set_clock(struct tls_server_config *cfg, tls_clock_fn clock, void *ctx)
{
	cfg->verify.clock = clock;
	cfg->verify.clock_ctx = ctx;
}

/* Client configuration ------------------------------------------------------------- */

int tls_client_config_init(struct tls_client_config *cfg, void *store, size_t store_cap)
{
	if (!cfg || (!store && store_cap))
		return -ERR_INVAL;
	memset(cfg, 0, sizeof *cfg);
	store_init(&cfg->store, store, store_cap);
	return 0;
}

int tls_client_add_ca(struct tls_client_config *cfg, const void *pem, size_t pem_len)
{
	return ta_load_pem(&cfg->store, &cfg->verify, pem, pem_len, cfg->errmsg);
}

void tls_client_set_pin(struct tls_client_config *cfg, const uint8_t sha256[32])
{
	memcpy(cfg->verify.pin, sha256, sizeof cfg->verify.pin);
	cfg->verify.has_pin = true;
}

void tls_client_set_insecure_skip_verify(struct tls_client_config *cfg, bool insecure)
{
	cfg->verify.insecure = insecure;
}

int tls_client_set_cert(struct tls_client_config *cfg, const void *chain_pem, size_t chain_pem_len,
			const void *key_pem, size_t key_pem_len)
{
	if (cfg->has_cert) {
		cfg_errmsg(cfg->errmsg, "client certificate already set");
		return -ERR_EXISTS;
	}
	int r = chain_load(&cfg->store, &cfg->cert, chain_pem, chain_pem_len, key_pem, key_pem_len,
			   cfg->errmsg);
	if (r == 0)
		cfg->has_cert = true;
	return r;
}

void tls_client_set_clock(struct tls_client_config *cfg, tls_clock_fn clock, void *ctx)
{
	cfg->verify.clock = clock;
	cfg->verify.clock_ctx = ctx;
}
