/* tls.c — small shared pieces: BearSSL error names and their mapping to
 * project codes, cipher suite names, the SNI name rule.
 *
 * Everything here is a pure function of its arguments (tables are const).
 */
#include "tls/tls.h"

#include <stdio.h>
#include <string.h>

#include "base/base_err.h"

struct br_err_desc {
	int code;
	const char *name;
	const char *text;
};

/* BearSSL codes (bearssl_ssl.h, bearssl_x509.h) with our own wording. */
static const struct br_err_desc br_errs[] = {
	{BR_ERR_BAD_PARAM, "BR_ERR_BAD_PARAM", "bad parameter"},
	{BR_ERR_BAD_STATE, "BR_ERR_BAD_STATE", "engine in a bad state"},
	{BR_ERR_UNSUPPORTED_VERSION, "BR_ERR_UNSUPPORTED_VERSION",
	 "unsupported protocol version (TLS 1.2 only)"},
	{BR_ERR_BAD_VERSION, "BR_ERR_BAD_VERSION", "record version mismatch"},
	{BR_ERR_BAD_LENGTH, "BR_ERR_BAD_LENGTH", "bad record length"},
	{BR_ERR_TOO_LARGE, "BR_ERR_TOO_LARGE", "record too large"},
	{BR_ERR_BAD_MAC, "BR_ERR_BAD_MAC", "record authentication failed"},
	{BR_ERR_NO_RANDOM, "BR_ERR_NO_RANDOM", "no entropy"},
	{BR_ERR_UNKNOWN_TYPE, "BR_ERR_UNKNOWN_TYPE", "unknown record type (not TLS?)"},
	{BR_ERR_UNEXPECTED, "BR_ERR_UNEXPECTED", "unexpected message"},
	{BR_ERR_BAD_CCS, "BR_ERR_BAD_CCS", "bad ChangeCipherSpec"},
	{BR_ERR_BAD_ALERT, "BR_ERR_BAD_ALERT", "bad alert"},
	{BR_ERR_BAD_HANDSHAKE, "BR_ERR_BAD_HANDSHAKE", "malformed handshake message"},
	{BR_ERR_OVERSIZED_ID, "BR_ERR_OVERSIZED_ID", "oversized session id"},
	{BR_ERR_BAD_CIPHER_SUITE, "BR_ERR_BAD_CIPHER_SUITE", "no common cipher suite"},
	{BR_ERR_BAD_COMPRESSION, "BR_ERR_BAD_COMPRESSION", "unsupported compression"},
	{BR_ERR_BAD_FRAGLEN, "BR_ERR_BAD_FRAGLEN", "bad max fragment length"},
	{BR_ERR_BAD_SECRENEG, "BR_ERR_BAD_SECRENEG", "secure renegotiation failure"},
	{BR_ERR_EXTRA_EXTENSION, "BR_ERR_EXTRA_EXTENSION", "unrequested extension"},
	{BR_ERR_BAD_SNI, "BR_ERR_BAD_SNI", "malformed server name"},
	{BR_ERR_BAD_HELLO_DONE, "BR_ERR_BAD_HELLO_DONE", "malformed ServerHelloDone"},
	{BR_ERR_LIMIT_EXCEEDED, "BR_ERR_LIMIT_EXCEEDED", "internal limit exceeded"},
	{BR_ERR_BAD_FINISHED, "BR_ERR_BAD_FINISHED", "bad Finished message"},
	{BR_ERR_RESUME_MISMATCH, "BR_ERR_RESUME_MISMATCH", "session resumption mismatch"},
	{BR_ERR_INVALID_ALGORITHM, "BR_ERR_INVALID_ALGORITHM", "unsupported algorithm"},
	{BR_ERR_BAD_SIGNATURE, "BR_ERR_BAD_SIGNATURE", "bad handshake signature"},
	{BR_ERR_WRONG_KEY_USAGE, "BR_ERR_WRONG_KEY_USAGE", "certificate key unfit for the suite"},
	{BR_ERR_NO_CLIENT_AUTH, "BR_ERR_NO_CLIENT_AUTH", "client sent no certificate"},
	{BR_ERR_IO, "BR_ERR_IO", "I/O error"},
	{BR_ERR_X509_INVALID_VALUE, "BR_ERR_X509_INVALID_VALUE", "invalid certificate field"},
	{BR_ERR_X509_TRUNCATED, "BR_ERR_X509_TRUNCATED", "truncated certificate"},
	{BR_ERR_X509_EMPTY_CHAIN, "BR_ERR_X509_EMPTY_CHAIN", "empty certificate chain"},
	{BR_ERR_X509_INNER_TRUNC, "BR_ERR_X509_INNER_TRUNC", "malformed certificate"},
	{BR_ERR_X509_BAD_TAG_CLASS, "BR_ERR_X509_BAD_TAG_CLASS", "malformed certificate"},
	{BR_ERR_X509_BAD_TAG_VALUE, "BR_ERR_X509_BAD_TAG_VALUE", "malformed certificate"},
	{BR_ERR_X509_INDEFINITE_LENGTH, "BR_ERR_X509_INDEFINITE_LENGTH", "malformed certificate"},
	{BR_ERR_X509_EXTRA_ELEMENT, "BR_ERR_X509_EXTRA_ELEMENT", "malformed certificate"},
	{BR_ERR_X509_UNEXPECTED, "BR_ERR_X509_UNEXPECTED", "malformed certificate"},
	{BR_ERR_X509_NOT_CONSTRUCTED, "BR_ERR_X509_NOT_CONSTRUCTED", "malformed certificate"},
	{BR_ERR_X509_NOT_PRIMITIVE, "BR_ERR_X509_NOT_PRIMITIVE", "malformed certificate"},
	{BR_ERR_X509_PARTIAL_BYTE, "BR_ERR_X509_PARTIAL_BYTE", "malformed certificate"},
	{BR_ERR_X509_BAD_BOOLEAN, "BR_ERR_X509_BAD_BOOLEAN", "malformed certificate"},
	{BR_ERR_X509_OVERFLOW, "BR_ERR_X509_OVERFLOW", "certificate value out of range"},
	{BR_ERR_X509_BAD_DN, "BR_ERR_X509_BAD_DN", "malformed distinguished name"},
	{BR_ERR_X509_BAD_TIME, "BR_ERR_X509_BAD_TIME", "malformed validity date"},
	{BR_ERR_X509_UNSUPPORTED, "BR_ERR_X509_UNSUPPORTED", "unsupported certificate feature"},
	{BR_ERR_X509_LIMIT_EXCEEDED, "BR_ERR_X509_LIMIT_EXCEEDED", "certificate over a limit"},
	{BR_ERR_X509_WRONG_KEY_TYPE, "BR_ERR_X509_WRONG_KEY_TYPE", "unexpected key type"},
	{BR_ERR_X509_BAD_SIGNATURE, "BR_ERR_X509_BAD_SIGNATURE", "bad certificate signature"},
	{BR_ERR_X509_TIME_UNKNOWN, "BR_ERR_X509_TIME_UNKNOWN", "validation time unknown"},
	{BR_ERR_X509_EXPIRED, "BR_ERR_X509_EXPIRED", "certificate expired or not yet valid"},
	{BR_ERR_X509_DN_MISMATCH, "BR_ERR_X509_DN_MISMATCH", "issuer/subject mismatch in chain"},
	{BR_ERR_X509_BAD_SERVER_NAME, "BR_ERR_X509_BAD_SERVER_NAME",
	 "certificate does not match the server name"},
	{BR_ERR_X509_CRITICAL_EXTENSION, "BR_ERR_X509_CRITICAL_EXTENSION",
	 "unknown critical extension"},
	{BR_ERR_X509_NOT_CA, "BR_ERR_X509_NOT_CA", "issuer is not a CA"},
	{BR_ERR_X509_FORBIDDEN_KEY_USAGE, "BR_ERR_X509_FORBIDDEN_KEY_USAGE",
	 "key usage forbids this use"},
	{BR_ERR_X509_WEAK_PUBLIC_KEY, "BR_ERR_X509_WEAK_PUBLIC_KEY", "public key too small"},
	{BR_ERR_X509_NOT_TRUSTED, "BR_ERR_X509_NOT_TRUSTED", "certificate not trusted"},
};

struct alert_desc {
	int code;
	const char *name;
};

static const struct alert_desc alerts[] = {
	{BR_ALERT_CLOSE_NOTIFY, "close_notify"},
	{BR_ALERT_UNEXPECTED_MESSAGE, "unexpected_message"},
	{BR_ALERT_BAD_RECORD_MAC, "bad_record_mac"},
	{BR_ALERT_RECORD_OVERFLOW, "record_overflow"},
	{BR_ALERT_DECOMPRESSION_FAILURE, "decompression_failure"},
	{BR_ALERT_HANDSHAKE_FAILURE, "handshake_failure"},
	{BR_ALERT_BAD_CERTIFICATE, "bad_certificate"},
	{BR_ALERT_UNSUPPORTED_CERTIFICATE, "unsupported_certificate"},
	{BR_ALERT_CERTIFICATE_REVOKED, "certificate_revoked"},
	{BR_ALERT_CERTIFICATE_EXPIRED, "certificate_expired"},
	{BR_ALERT_CERTIFICATE_UNKNOWN, "certificate_unknown"},
	{BR_ALERT_ILLEGAL_PARAMETER, "illegal_parameter"},
	{BR_ALERT_UNKNOWN_CA, "unknown_ca"},
	{BR_ALERT_ACCESS_DENIED, "access_denied"},
	{BR_ALERT_DECODE_ERROR, "decode_error"},
	{BR_ALERT_DECRYPT_ERROR, "decrypt_error"},
	{BR_ALERT_PROTOCOL_VERSION, "protocol_version"},
	{BR_ALERT_INSUFFICIENT_SECURITY, "insufficient_security"},
	{BR_ALERT_INTERNAL_ERROR, "internal_error"},
	{BR_ALERT_USER_CANCELED, "user_canceled"},
	{BR_ALERT_NO_RENEGOTIATION, "no_renegotiation"},
	{BR_ALERT_UNSUPPORTED_EXTENSION, "unsupported_extension"},
	{BR_ALERT_NO_APPLICATION_PROTOCOL, "no_application_protocol"},
	{86, "inappropriate_fallback"},
	{112, "unrecognized_name"},
};

static const struct br_err_desc *br_err_find(int br_err)
{
	for (size_t i = 0; i < sizeof br_errs / sizeof br_errs[0]; i++)
		if (br_errs[i].code == br_err)
			return &br_errs[i];
	return NULL;
}

static const char *alert_name(int alert)
{
	for (size_t i = 0; i < sizeof alerts / sizeof alerts[0]; i++)
		if (alerts[i].code == alert)
			return alerts[i].name;
	return "unknown alert";
}

const char *tls_br_err_name(int br_err)
{
	if (br_err == BR_ERR_OK)
		return "BR_ERR_OK";
	if (br_err >= BR_ERR_SEND_FATAL_ALERT && br_err < BR_ERR_SEND_FATAL_ALERT + 256)
		return "BR_ERR_SEND_FATAL_ALERT";
	if (br_err >= BR_ERR_RECV_FATAL_ALERT && br_err < BR_ERR_RECV_FATAL_ALERT + 256)
		return "BR_ERR_RECV_FATAL_ALERT";
	const struct br_err_desc *d = br_err_find(br_err);
	return d ? d->name : "BR_ERR_UNKNOWN";
}

int tls_err_from_br(int br_err, bool handshake_done, char *msg, size_t cap)
{
	int code = handshake_done ? -ERR_TLS_PROTOCOL : -ERR_TLS_HANDSHAKE;

	if (br_err == BR_ERR_OK) {
		if (cap)
			msg[0] = 0;
		return 0;
	}
	if (br_err >= BR_ERR_RECV_FATAL_ALERT && br_err < BR_ERR_RECV_FATAL_ALERT + 256) {
		int a = br_err - BR_ERR_RECV_FATAL_ALERT;
		snprintf(msg, cap, "peer sent fatal alert %d %s (BR_ERR_RECV_FATAL_ALERT)", a,
			 alert_name(a));
		return code;
	}
	if (br_err >= BR_ERR_SEND_FATAL_ALERT && br_err < BR_ERR_SEND_FATAL_ALERT + 256) {
		int a = br_err - BR_ERR_SEND_FATAL_ALERT;
		snprintf(msg, cap, "sent fatal alert %d %s (BR_ERR_SEND_FATAL_ALERT)", a,
			 alert_name(a));
		return code;
	}
	const struct br_err_desc *d = br_err_find(br_err);
	if (!d) {
		snprintf(msg, cap, "BearSSL error %d", br_err);
		return code;
	}
	snprintf(msg, cap, "%s (%s)", d->text, d->name);
	if ((br_err >= BR_ERR_X509_OK && br_err <= BR_ERR_X509_NOT_TRUSTED) ||
	    br_err == BR_ERR_NO_CLIENT_AUTH || br_err == BR_ERR_WRONG_KEY_USAGE)
		return -ERR_TLS_CERT;
	return code;
}

struct suite_desc {
	unsigned id;
	const char *name;
};

static const struct suite_desc suites[] = {
	{BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256"},
	{BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384"},
	{BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305"},
	{BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256"},
	{BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384"},
	{BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305"},
};

const char *tls_suite_name(unsigned suite)
{
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (suites[i].id == suite)
			return suites[i].name;
	return "unknown";
}

static int lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

/* ASCII case-insensitive equality of a[0..n) and b[0..n). */
static bool eq_ci(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

bool tls_name_match_n_(const char *pattern, size_t pl, const char *name)
{
	size_t nl = strlen(name);

	if (nl && name[nl - 1] == '.')
		nl--;
	if (!pl || !nl)
		return false;
	if (pl >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* "*.b.c" matches "a.b.c": one non-empty label, then ".b.c". */
		const char *dot = memchr(name, '.', nl);
		if (!dot || dot == name)
			return false;
		size_t rest = nl - (size_t)(dot - name);
		return rest == pl - 1 && eq_ci(dot, pattern + 1, rest);
	}
	return pl == nl && eq_ci(pattern, name, nl);
}

bool tls_name_match(const char *pattern, const char *name)
{
	return tls_name_match_n_(pattern, strlen(pattern), name);
}
