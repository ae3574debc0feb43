/* pki_pem.h — PEM (RFC 7468) around BearSSL's br_pem_*, and the file
 * helpers that write keys and certificates to disk.
 *
 * Encoding and decoding work on caller-owned buffers and never allocate.
 * PEM text is written with 64-character lines and LF line ends, as OpenSSL
 * writes it (RFC 7468 §2 strict form).
 *
 * Files are written atomically: the bytes go to "<path>.tmp" (created
 * exclusively with the requested mode, so a key file is never readable by
 * others, not even for an instant), which is fsync()ed, renamed over
 * <path>, and then the directory is fsync()ed so the rename survives a
 * power cut. A reader sees the old file or the new one, never a mix.
 * These helpers make system calls: they are for start-up and CLI paths
 * (bootstrap writing admin credentials), not for the event loop.
 */
#ifndef PKI_PEM_H
#define PKI_PEM_H

#include <stddef.h>
#include <sys/types.h>

#include "base/base_buf.h"
#include "base/base_slice.h"

#define PKI_PEM_CERT "CERTIFICATE"
#define PKI_PEM_EC_KEY "EC PRIVATE KEY" /* SEC1 / RFC 5915 ECPrivateKey */
#define PKI_PEM_PKCS8 "PRIVATE KEY"     /* PKCS#8 / RFC 5958 OneAsymmetricKey */

/* Modes for pki_file_write_atomic (before the umask). */
#define PKI_FILE_MODE_KEY 0600
#define PKI_FILE_MODE_CERT 0644

/* Longest path the file helpers accept (including "<path>.tmp"). */
#define PKI_PATH_MAX 4096

/* PEM size for `der_len` bytes: base64 in 64-column lines plus the BEGIN
 * and END lines for `banner`; excludes the NUL. */
size_t pki_pem_size(const char *banner, size_t der_len);

/* Append the PEM form of (der, len) under "-----BEGIN <banner>-----".
 * The text is also NUL-terminated in the buffer (the NUL is not counted in
 * out->len), so it needs pki_pem_size() + 1 bytes free: -ERR_BUF_FULL
 * otherwise, with nothing appended. */
int pki_pem_encode(const char *banner, const void *der, size_t len, struct buf *out);

/* Find the next PEM object in *in whose label equals `banner` (any label
 * when banner is NULL), decode its body into `out` (appended), and advance
 * *in past its END line, so a loop reads a chain object by object. Objects
 * with other labels are skipped. Text outside objects is ignored.
 * Errors: -ERR_NOTFOUND (no such object left; *in is then empty),
 * -ERR_PARSE (bad base64 or an object cut short), -ERR_BUF_FULL (the
 * decoded object does not fit; out unchanged). If label_out is non-NULL it
 * receives the object's label (up to label_cap - 1 bytes, NUL-terminated). */
int pki_pem_decode(struct slice *in, const char *banner, struct buf *out, char *label_out,
		   size_t label_cap);

/* Write (data, len) to `path` atomically with `mode` (see the top comment).
 * 0, -ERR_RANGE (path too long), or the errno of the failing call mapped
 * by err_from_errno (-ERR_PERM, -ERR_NOTFOUND for a missing directory...).
 * On failure the old file, if any, is untouched and the .tmp is removed. */
int pki_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Read the whole file into `out` (appended). -ERR_TOO_LARGE if it does not
 * fit the buffer (out unchanged), -ERR_NOTFOUND if it does not exist, or
 * the errno of the failing call, mapped. */
int pki_file_read(const char *path, struct buf *out);

#endif
