/* pki_pem.c — see pki_pem.h. */
#include "pki/pki_pem.h"

#include "base/base_err.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEM_FLAGS BR_PEM_LINE64

size_t pki_pem_size(const char *banner, size_t der_len)
{
	return br_pem_encode(NULL, NULL, der_len, banner, PEM_FLAGS);
}

int pki_pem_encode(const char *banner, const void *der, size_t len, struct buf *out)
{
	size_t n = pki_pem_size(banner, len);
	if (buf_avail(out) < n + 1)
		return -ERR_BUF_FULL;
	/* br_pem_encode writes n characters and a NUL. */
	br_pem_encode(out->data + out->len, der, len, banner, PEM_FLAGS);
	out->len += n;
	return 0;
}

/* Receiver for the decoded bytes of the wanted object. */
struct pem_sink {
	struct buf *out;
	int err;
};

static void pem_sink_push(void *ctx, const void *p, size_t n)
{
	struct pem_sink *s = ctx;
	if (!s->err && buf_append(s->out, p, n))
		s->err = -ERR_BUF_FULL;
}

int pki_pem_decode(struct slice *in, const char *banner, struct buf *out, char *label_out,
		   size_t label_cap)
{
	br_pem_decoder_context pc;
	struct pem_sink sink = {out, 0};
	size_t start = out->len;
	enum { OUTSIDE, WANTED, SKIPPED } state = OUTSIDE;

	br_pem_decoder_init(&pc);
	/* The input, then one LF: BearSSL ends an object when it sees the END
	 * line's line break, and a file's last line may lack one. */
	const char *src[2] = {in->p, "\n"};
	size_t srclen[2] = {in->len, 1};
	for (int part = 0; part < 2; part++) {
		const char *p = src[part];
		size_t left = srclen[part];
		while (left > 0) {
			size_t n = br_pem_decoder_push(&pc, p, left);
			p += n;
			left -= n;
			int ev = br_pem_decoder_event(&pc);
			if (ev == BR_PEM_BEGIN_OBJ) {
				const char *name = br_pem_decoder_name(&pc);
				if (!banner || strcmp(name, banner) == 0) {
					state = WANTED;
					br_pem_decoder_setdest(&pc, pem_sink_push, &sink);
					if (label_out && label_cap) {
						size_t k = strlen(name);
						k = k < label_cap - 1 ? k : label_cap - 1;
						memcpy(label_out, name, k);
						label_out[k] = 0;
					}
				} else {
					state = SKIPPED;
					br_pem_decoder_setdest(&pc, NULL, NULL);
				}
			} else if (ev == BR_PEM_END_OBJ || ev == BR_PEM_ERROR) {
				if (state == WANTED) {
					if (ev == BR_PEM_ERROR || sink.err) {
						out->len = start;
						return ev == BR_PEM_ERROR ? -ERR_PARSE : sink.err;
					}
					if (part == 0) {
						in->len -= (size_t)(p - in->p);
						in->p = p;
					} else {
						in->p += in->len;
						in->len = 0;
					}
					return 0;
				}
				state = OUTSIDE;
			} else if (n == 0) {
				break; /* no progress and no event: cannot happen; do not spin */
			}
		}
	}
	if (state == WANTED) { /* BEGIN without END: cut short */
		out->len = start;
		return -ERR_PARSE;
	}
	in->p += in->len;
	in->len = 0;
	return -ERR_NOTFOUND;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_from_errno(errno);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding `path` so a rename in it is durable. */
static int fsync_parent(const char *path)
{
	char dir[PKI_PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		dir[0] = '.';
		dir[1] = 0;
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = 0;
	} else {
		size_t k = (size_t)(slash - path);
		memcpy(dir, path, k);
		dir[k] = 0;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_from_errno(errno);
	int rc = fsync(fd) ? err_from_errno(errno) : 0;
	close(fd);
	return rc;
}

int pki_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PKI_PATH_MAX];
	size_t plen = strlen(path);
	if (plen == 0 || plen + sizeof ".tmp" > sizeof tmp)
		return -ERR_RANGE;
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp", sizeof ".tmp");

	int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
	int fd = open(tmp, flags, mode);
	if (fd < 0 && errno == EEXIST) {
		/* Left by a writer that crashed before its rename. */
		if (unlink(tmp) == 0)
			fd = open(tmp, flags, mode);
	}
	if (fd < 0)
		return err_from_errno(errno);
	int rc = write_all(fd, data, len);
	if (!rc && fsync(fd))
		rc = err_from_errno(errno);
	if (close(fd) && !rc)
		rc = err_from_errno(errno);
	if (!rc && rename(tmp, path))
		rc = err_from_errno(errno);
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_parent(path);
}

int pki_file_read(const char *path, struct buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_from_errno(errno);
	size_t start = out->len;
	int rc = 0;
	for (;;) {
		if (buf_avail(out) == 0) {
			/* Full: the file fits only if this was its end. */
			char probe;
			ssize_t n = read(fd, &probe, 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n != 0)
				rc = n < 0 ? err_from_errno(errno) : -ERR_TOO_LARGE;
			break;
		}
		ssize_t n = read(fd, out->data + out->len, buf_avail(out));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_from_errno(errno);
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	close(fd);
	if (rc)
		out->len = start;
	return rc;
}
