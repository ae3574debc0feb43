/* base_id.c — see base_id.h. */
#include "base/base_id.h"

#include <string.h>

static const char id_digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

void id_from_bytes(const unsigned char in[16], char out[ID_LEN + 1])
{
	/* Long division of the 128-bit number by 36, 25 times. */
	unsigned char n[16];
	memcpy(n, in, sizeof n);
	for (int pos = ID_LEN - 1; pos >= 0; pos--) {
		unsigned rem = 0;
		for (int i = 0; i < 16; i++) {
			unsigned cur = rem << 8 | n[i];
			n[i] = (unsigned char)(cur / 36);
			rem = cur % 36;
		}
		out[pos] = id_digits[rem];
	}
	out[ID_LEN] = 0;
}

void id_generate(struct rand *r, char out[ID_LEN + 1])
{
	unsigned char b[16];
	rand_bytes(r, b, sizeof b);
	id_from_bytes(b, out);
}

int id_valid(struct slice s)
{
	if (s.len != ID_LEN)
		return 0;
	/* Multiply-accumulate into 128 bits; reject on overflow. */
	unsigned char n[16] = {0};
	for (size_t i = 0; i < s.len; i++) {
		const char *d = memchr(id_digits, s.p[i], 36);
		if (!d || !s.p[i])
			return 0;
		unsigned carry = (unsigned)(d - id_digits);
		for (int j = 15; j >= 0; j--) {
			unsigned cur = n[j] * 36u + carry;
			n[j] = (unsigned char)cur;
			carry = cur >> 8;
		}
		if (carry)
			return 0;
	}
	return 1;
}
