/* http_gzip.c — streaming gzip compressor; contract in http_gzip.h.
 *
 * Design (docs/internals/http-gzip.md has the long version):
 *  - Input is copied into a 64 KiB window (two halves of 32 KiB); when the window is full,
 *    the upper half slides down and the hash tables are rebased.
 *  - LZ77 over the window with hash chains; the matches and literals of one block are kept
 *    in a symbol buffer. When it is full, or on a flush, the block is coded as whichever of
 *    dynamic Huffman, fixed Huffman or stored (RFC 1951 §3.2.3-3.2.7) costs fewer bits.
 *  - All output goes through `pend`, a small staging buffer the encoder fills and each
 *    step drains into the caller's buffer. The encoder is a resumable state machine
 *    (block phase, symbol index), so any output capacity down to 1 byte works.
 */
#include "http/http_gzip.h"

#include <string.h>

/* clang-format off */
static const uint32_t crc_table[256] = {
	0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
	0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
	0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
	0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
	0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
	0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
	0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
	0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
	0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
	0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
	0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
	0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
	0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
	0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
	0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
	0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
	0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
	0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
	0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
	0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
	0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
	0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
	0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
	0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
	0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
	0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
	0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
	0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
	0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
	0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
	0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
	0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
	0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
	0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
	0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
	0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
	0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
	0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
	0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
	0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
	0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
	0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
	0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};
/* clang-format on */

uint32_t http_gzip_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* RFC 1951 §3.2.5: base value and extra bits of the length codes 257..285 and the
 * distance codes 0..29; len_sym maps length - 3 to a length code - 257, dist_sym maps
 * distance - 1 to a distance code (see dist_code()). Generated from the RFC's rules. */
/* clang-format off */
static const uint16_t len_base[29] = {
	3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
};
static const uint8_t len_extra[29] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
};
static const uint16_t dist_base[30] = {
	1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
};
static const uint8_t dist_extra[30] = {
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
};
static const uint8_t len_sym[256] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13,
	14, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17,
	18, 18, 18, 18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20, 20,
	20, 20, 20, 20, 20, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21,
	22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23, 23,
	23, 23, 23, 23, 23, 23, 23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24,
	24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25, 25,
	25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25,
	26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
	26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
	27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 28,
};
static const uint8_t dist_sym[512] = {
	0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8,
	9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,
	11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 12, 12, 12, 12, 12, 12, 12, 12,
	12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12,
	13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
	13, 13, 13, 13, 13, 13, 13, 13, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
	14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
	14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 0, 0, 16, 17, 18, 18, 19, 19,
	20, 20, 20, 20, 21, 21, 21, 21, 22, 22, 22, 22, 22, 22, 22, 22, 23, 23, 23, 23, 23, 23, 23, 23,
	24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25, 25,
	25, 25, 25, 25, 25, 25, 25, 25, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26,
	26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27,
	27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27, 27,
	28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29,
	29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29,
	29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29,
	29, 29, 29, 29, 29, 29, 29, 29,
};
/* clang-format on */

/* Order of the code-length code lengths in a dynamic block header (RFC 1951 §3.2.7). */
static const uint8_t bl_order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
				     11, 4,  12, 3, 13, 2, 14, 1, 15};

#define WSIZE 32768u /* deflate's window: the farthest a match may reach */
#define WMASK (WSIZE - 1u)
#define WBUF (2u * WSIZE) /* the window buffer: two halves */
#define MIN_MATCH 3u
#define MAX_MATCH 258u
#define MIN_LOOKAHEAD (MAX_MATCH + MIN_MATCH + 1u) /* what a match search needs ahead */
#define MAX_DIST (WSIZE - MIN_LOOKAHEAD)           /* so that a slide never drops a match source */
#define TOO_FAR 4096u /* a 3-byte match farther than this costs more than literals */
#define HBITS 14u
#define HSIZE (1u << HBITS)
#define SYM_MAX 8192u     /* symbols per block */
#define PEND_SIZE 4096u   /* output staging */
#define PEND_ROOM 64u     /* room the encoder wants before each step */
#define STORED_MAX 65535u /* bytes per stored block (LEN is 16 bits) */
#define L_CODES 286u      /* literal/length alphabet: 0..255, 256 end of block, 257..285 */
#define D_CODES 30u
#define BL_CODES 19u
#define MAX_BITS 15u   /* longest literal/length or distance code */
#define MAX_BL_BITS 7u /* longest code-length code */

enum { PH_RUN, PH_BLOCK, PH_MARK, PH_TRAILER, PH_DONE };
enum { BT_STORED = 0, BT_FIXED = 1, BT_DYN = 2 }; /* = BTYPE */
enum { BS_HEAD, BS_TREE, BS_SYMS, BS_EOB, BS_ST_HEAD, BS_ST_RAW, BS_END, BS_RUN_END };

struct http_gzip {
	uint8_t win[WBUF];          /* input window: two halves of WSIZE */
	uint16_t prev[WSIZE];       /* prev[pos % WSIZE]: earlier position with the same hash */
	uint16_t head[HSIZE];       /* head[hash]: latest position; 0 = none */
	uint16_t sym_dist[SYM_MAX]; /* 0 for a literal, else the match distance */
	uint8_t sym_ll[SYM_MAX];    /* the literal, or match length - 3 */
	uint8_t pend[PEND_SIZE];    /* encoded bytes not yet given to the caller */
	uint16_t ll_freq[L_CODES], d_freq[D_CODES], bl_freq[BL_CODES];
	uint16_t ll_code[L_CODES + 2], d_code[D_CODES], bl_code[BL_CODES]; /* bit-reversed */
	uint8_t ll_len[L_CODES + 2], d_len[D_CODES], bl_len[BL_CODES];
	uint8_t tree[L_CODES + D_CODES];       /* dynamic header: code-length symbols 0..18 */
	uint8_t tree_extra[L_CODES + D_CODES]; /* and their extra-bit values */
	uint64_t bitbuf; /* bits not yet in pend, LSB first; bitcnt < 32 between calls */
	unsigned bitcnt;
	unsigned pend_pos, pend_len;
	uint32_t crc, isize;
	unsigned strstart, lookahead; /* next position to code; bytes loaded from there */
	long block_start;             /* window index of the block's first byte; -1: slid out */
	unsigned block_raw;           /* input bytes covered by the block's symbols */
	unsigned nsym;
	unsigned prev_length, prev_match; /* lazy matching: the match found at strstart - 1 */
	int match_available;              /* the byte at strstart - 1 is not coded yet */
	int level;
	unsigned max_chain, nice_length, max_lazy, good_length;
	int phase, after, synced;
	int bt, final, sub;
	unsigned emit_i, ntree, hlit, hdist, hclen;
	long st_pos;                /* stored output: next window byte, */
	unsigned st_left, st_chunk; /* bytes after this chunk, bytes left in this chunk */
	int st_final, st_next;      /* BFINAL on the last chunk; sub-state after the bytes */
	long run_start;             /* stored blocks not written yet: window index, */
	unsigned run_len;           /* and length (they are written as one stored block) */
};

_Static_assert(sizeof(struct http_gzip) <= HTTP_GZIP_STATE_BYTES,
	       "HTTP_GZIP_STATE_BYTES too small");
_Static_assert(WBUF <= 65536u, "window positions must fit in uint16_t");

size_t http_gzip_size(void)
{
	return sizeof(struct http_gzip);
}

/* Per level: chain length, stop at a match this long, no lazy search after a match this
 * long (greedy levels: no hash insertion inside matches longer than this), search a
 * quarter of the chain after a match this long. Levels 1..3 are greedy. */
static const struct {
	uint16_t chain, nice, lazy, good;
} level_cfg[10] = {
	{0, 0, 0, 0},         {4, 8, 4, 4},         {8, 16, 5, 4},     {32, 32, 6, 4},
	{16, 16, 4, 4},       {32, 32, 16, 8},      {128, 128, 16, 8}, {256, 128, 32, 8},
	{1024, 258, 128, 32}, {4096, 258, 258, 32},
};

void http_gzip_init(struct http_gzip *z, int level)
{
	if (level < 1)
		level = 1;
	if (level > 9)
		level = 9;
	memset(z->head, 0, sizeof z->head);
	memset(z->ll_freq, 0, sizeof z->ll_freq);
	memset(z->d_freq, 0, sizeof z->d_freq);
	z->bitbuf = 0;
	z->bitcnt = 0;
	z->crc = 0;
	z->isize = 0;
	z->strstart = 0;
	z->lookahead = 0;
	z->block_start = 0;
	z->block_raw = 0;
	z->nsym = 0;
	z->prev_length = MIN_MATCH - 1;
	z->prev_match = 0;
	z->match_available = 0;
	z->run_start = 0;
	z->run_len = 0;
	z->level = level;
	z->max_chain = level_cfg[level].chain;
	z->nice_length = level_cfg[level].nice;
	z->max_lazy = level_cfg[level].lazy;
	z->good_length = level_cfg[level].good;
	z->phase = PH_RUN;
	z->after = PH_RUN;
	z->synced = 0;
	/* RFC 1952 §2.3: ID1 ID2 CM=8 FLG=0 MTIME=0 XFL OS=255 (unknown) */
	static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
	memcpy(z->pend, hdr, sizeof hdr);
	z->pend[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
	z->pend_pos = 0;
	z->pend_len = sizeof hdr;
}

/* --- bit output (RFC 1951 §3.1.1: LSB first) ------------------------------------------ */

/* n <= 32; the caller made sure pend has room for 4 more bytes. */
static inline void put_bits(struct http_gzip *z, uint32_t v, unsigned n)
{
	z->bitbuf |= (uint64_t)v << z->bitcnt;
	z->bitcnt += n;
	if (z->bitcnt >= 32) {
		uint8_t *p = z->pend + z->pend_len;
		p[0] = (uint8_t)z->bitbuf;
		p[1] = (uint8_t)(z->bitbuf >> 8);
		p[2] = (uint8_t)(z->bitbuf >> 16);
		p[3] = (uint8_t)(z->bitbuf >> 24);
		z->pend_len += 4;
		z->bitbuf >>= 32;
		z->bitcnt -= 32;
	}
}

/* Pad to a byte boundary with zero bits and move every whole byte to pend. */
static void align_bits(struct http_gzip *z)
{
	while (z->bitcnt > 0) {
		z->pend[z->pend_len++] = (uint8_t)z->bitbuf;
		z->bitbuf >>= 8;
		z->bitcnt = z->bitcnt > 8 ? z->bitcnt - 8 : 0;
	}
	z->bitbuf = 0;
}

static void put_u32le(struct http_gzip *z, uint32_t v)
{
	uint8_t *p = z->pend + z->pend_len;
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	z->pend_len += 4;
}

/* --- Huffman codes ------------------------------------------------------------------- */

/* Optimal code lengths for freq[0..n), none longer than maxbits, written to len[0..n).
 * Fewer than two used symbols get two codes of length 1 (a complete code, which every
 * inflater accepts). Method: a Huffman tree by the two-queue merge over the symbols
 * sorted by frequency; if it is deeper than maxbits, the counts per length are evened
 * out (the over-deep pair trick of JPEG's Annex K.3) and the lengths handed out again,
 * longest to the rarest. */
static void build_lengths(const uint16_t *freq, unsigned n, unsigned maxbits, uint8_t *len)
{
	uint16_t sym[L_CODES];
	uint32_t w[2 * L_CODES];
	uint16_t parent[2 * L_CODES];
	uint8_t depth[2 * L_CODES];
	unsigned count[2 * L_CODES];
	unsigned m = 0;

	memset(len, 0, n);
	for (unsigned i = 0; i < n; i++)
		if (freq[i])
			sym[m++] = (uint16_t)i;
	if (m < 2) {
		unsigned a = m ? sym[0] : 0;
		len[a] = 1;
		len[a == 0 ? 1 : 0] = 1;
		return;
	}
	/* Shell sort by frequency (m <= 286; the gaps are Ciura's) */
	static const uint8_t gaps[] = {132, 57, 23, 10, 4, 1};
	for (unsigned g = 0; g < sizeof gaps; g++) {
		unsigned gap = gaps[g];
		for (unsigned i = gap; i < m; i++) {
			uint16_t s = sym[i];
			unsigned j = i;
			while (j >= gap && freq[sym[j - gap]] > freq[s]) {
				sym[j] = sym[j - gap];
				j -= gap;
			}
			sym[j] = s;
		}
	}
	for (unsigned i = 0; i < m; i++)
		w[i] = freq[sym[i]];
	/* nodes 0..m-1 are leaves in order, m..2m-2 internal nodes in creation order (their
	 * weights never decrease, so two queues give the two lightest nodes each time) */
	unsigned li = 0, ii = m, next = m;
	while (next < 2 * m - 1) {
		unsigned pick[2];
		for (int k = 0; k < 2; k++) {
			if (li < m && (ii >= next || w[li] <= w[ii]))
				pick[k] = li++;
			else
				pick[k] = ii++;
		}
		w[next] = w[pick[0]] + w[pick[1]];
		parent[pick[0]] = parent[pick[1]] = (uint16_t)next;
		next++;
	}
	unsigned root = 2 * m - 2, maxd = 0;
	depth[root] = 0;
	for (unsigned i = root; i-- > 0;) {
		unsigned d = depth[parent[i]] + 1u;
		depth[i] = (uint8_t)(d > 255 ? 255 : d);
	}
	memset(count, 0, sizeof count);
	for (unsigned i = 0; i < m; i++) {
		count[depth[i]]++;
		if (depth[i] > maxd)
			maxd = depth[i];
	}
	if (maxd > maxbits) {
		/* Two leaves at depth i share a parent; the parent becomes a leaf for one of
		 * them, and the other hangs with a leaf from the deepest shallower level j. */
		for (unsigned i = maxd; i > maxbits; i--) {
			while (count[i] > 0) {
				unsigned j = i - 2;
				while (count[j] == 0)
					j--;
				count[i] -= 2;
				count[i - 1] += 1;
				count[j + 1] += 2;
				count[j] -= 1;
			}
		}
		maxd = maxbits;
	}
	/* rarest symbols (start of sym[]) get the longest codes */
	unsigned k = 0;
	for (unsigned d = maxd; d > 0; d--)
		for (unsigned c = count[d]; c > 0; c--)
			len[sym[k++]] = (uint8_t)d;
}

#ifdef TEE_TEST_BUILD
void http_gzip_test_code_lengths(const uint16_t *freq, unsigned n, unsigned maxbits, uint8_t *len)
{
	build_lengths(freq, n, maxbits, len);
}
#endif

/* Canonical codes of RFC 1951 §3.2.2, bit-reversed for LSB-first output. */
static void build_codes(const uint8_t *len, unsigned n, uint16_t *code)
{
	unsigned bl_count[MAX_BITS + 1] = {0}, next[MAX_BITS + 2];
	for (unsigned i = 0; i < n; i++)
		bl_count[len[i]]++;
	bl_count[0] = 0;
	unsigned c = 0;
	for (unsigned b = 1; b <= MAX_BITS; b++) {
		c = (c + bl_count[b - 1]) << 1;
		next[b] = c;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned l = len[i];
		if (!l) {
			code[i] = 0;
			continue;
		}
		unsigned v = next[l]++, r = 0;
		for (unsigned b = 0; b < l; b++) {
			r = (r << 1) | (v & 1);
			v >>= 1;
		}
		code[i] = (uint16_t)r;
	}
}

static inline unsigned dist_code(unsigned d0) /* d0 = distance - 1 */
{
	return d0 < 256 ? dist_sym[d0] : dist_sym[256 + (d0 >> 7)];
}

/* The run-length coded code lengths of a dynamic header (RFC 1951 §3.2.7) into
 * tree[]/tree_extra[], counted in bl_freq. */
static void build_tree_desc(struct http_gzip *z)
{
	uint8_t lens[L_CODES + D_CODES];
	unsigned n = z->hlit + z->hdist, t = 0;
	memcpy(lens, z->ll_len, z->hlit);
	memcpy(lens + z->hlit, z->d_len, z->hdist);
	memset(z->bl_freq, 0, sizeof z->bl_freq);
	for (unsigned i = 0; i < n;) {
		unsigned v = lens[i], r = 1;
		while (i + r < n && lens[i + r] == v)
			r++;
		i += r;
		if (v == 0) {
			while (r >= 11) {
				unsigned k = r < 138 ? r : 138;
				z->tree[t] = 18;
				z->tree_extra[t++] = (uint8_t)(k - 11);
				r -= k;
			}
			if (r >= 3) {
				z->tree[t] = 17;
				z->tree_extra[t++] = (uint8_t)(r - 3);
				r = 0;
			}
		} else {
			z->tree[t] = (uint8_t)v;
			z->tree_extra[t++] = 0;
			r--;
			while (r >= 3) {
				unsigned k = r < 6 ? r : 6;
				z->tree[t] = 16;
				z->tree_extra[t++] = (uint8_t)(k - 3);
				r -= k;
			}
		}
		while (r > 0) {
			z->tree[t] = (uint8_t)v;
			z->tree_extra[t++] = 0;
			r--;
		}
	}
	z->ntree = t;
	for (unsigned i = 0; i < t; i++)
		z->bl_freq[z->tree[i]]++;
}

static void fixed_lengths(uint8_t *ll, uint8_t *d)
{
	for (unsigned i = 0; i < L_CODES + 2; i++)
		ll[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
	for (unsigned i = 0; i < D_CODES; i++)
		d[i] = 5;
}

/* --- block emission ---------------------------------------------------------------- */

static void reset_block(struct http_gzip *z)
{
	if (z->block_start >= 0)
		z->block_start += z->block_raw;
	else
		z->block_start = (long)z->strstart - (z->match_available ? 1 : 0);
	z->block_raw = 0;
	z->nsym = 0;
	memset(z->ll_freq, 0, sizeof z->ll_freq);
	memset(z->d_freq, 0, sizeof z->d_freq);
}

/* Decide how the block is coded (the fewest bits of dynamic, fixed and stored) and enter
 * PH_BLOCK; `after` is the phase that follows it. */
static void start_block(struct http_gzip *z, int final, int after)
{
	z->final = final;
	z->after = after;
	z->phase = PH_BLOCK;
	z->emit_i = 0;
	z->ll_freq[256] = 1; /* end of block */

	/* bits both Huffman codings spend on extra bits */
	uint64_t extra = 0;
	for (unsigned c = 0; c < 29; c++)
		extra += (uint64_t)z->ll_freq[257 + c] * len_extra[c];
	for (unsigned c = 0; c < D_CODES; c++)
		extra += (uint64_t)z->d_freq[c] * dist_extra[c];

	/* dynamic */
	build_lengths(z->ll_freq, L_CODES, MAX_BITS, z->ll_len);
	build_lengths(z->d_freq, D_CODES, MAX_BITS, z->d_len);
	z->hlit = L_CODES;
	while (z->hlit > 257 && z->ll_len[z->hlit - 1] == 0)
		z->hlit--;
	z->hdist = D_CODES;
	while (z->hdist > 1 && z->d_len[z->hdist - 1] == 0)
		z->hdist--;
	build_tree_desc(z);
	build_lengths(z->bl_freq, BL_CODES, MAX_BL_BITS, z->bl_len);
	z->hclen = BL_CODES;
	while (z->hclen > 4 && z->bl_len[bl_order[z->hclen - 1]] == 0)
		z->hclen--;
	uint64_t dyn = 3 + 5 + 5 + 4 + 3 * (uint64_t)z->hclen + extra;
	for (unsigned i = 0; i < BL_CODES; i++)
		dyn += (uint64_t)z->bl_freq[i] * z->bl_len[i];
	dyn += 2 * (uint64_t)z->bl_freq[16] + 3 * (uint64_t)z->bl_freq[17] +
	       7 * (uint64_t)z->bl_freq[18];
	for (unsigned i = 0; i < L_CODES; i++)
		dyn += (uint64_t)z->ll_freq[i] * z->ll_len[i];
	for (unsigned i = 0; i < D_CODES; i++)
		dyn += (uint64_t)z->d_freq[i] * z->d_len[i];

	/* fixed */
	uint8_t fl[L_CODES + 2], fd[D_CODES];
	fixed_lengths(fl, fd);
	uint64_t fix = 3 + extra;
	for (unsigned i = 0; i < L_CODES; i++)
		fix += (uint64_t)z->ll_freq[i] * fl[i];
	for (unsigned i = 0; i < D_CODES; i++)
		fix += (uint64_t)z->d_freq[i] * fd[i];

	/* stored, if the block's bytes are still in the window; after a run of stored blocks
	 * not yet written the block costs its bytes only (one header serves the run) */
	uint64_t sto = UINT64_MAX;
	if (z->block_start >= 0 && z->block_raw < MAX_DIST) {
		unsigned total = z->run_len + z->block_raw;
		unsigned chunks = total ? (total + STORED_MAX - 1) / STORED_MAX : 1;
		sto = 8 * (uint64_t)z->block_raw + (uint64_t)(chunks - 1) * 48;
		if (!z->run_len)
			sto += 3 + (8 - (z->bitcnt + 3) % 8) % 8 + 32;
	}

	if (sto <= fix && sto <= dyn) {
		if (!final && after == PH_RUN && z->run_len + z->block_raw <= STORED_MAX) {
			/* keep it back: the next block may be stored too */
			if (!z->run_len)
				z->run_start = z->block_start;
			z->run_len += z->block_raw;
			reset_block(z);
			z->phase = PH_RUN;
			return;
		}
		z->bt = BT_STORED;
		z->st_pos = z->run_len ? z->run_start : z->block_start;
		z->st_left = z->run_len + z->block_raw;
		z->run_len = 0;
		z->st_final = final;
		z->st_next = BS_END;
		z->sub = BS_ST_HEAD;
		return;
	}
	if (fix <= dyn) {
		z->bt = BT_FIXED;
		memcpy(z->ll_len, fl, sizeof fl);
		memcpy(z->d_len, fd, sizeof fd);
	} else {
		z->bt = BT_DYN;
		build_codes(z->bl_len, BL_CODES, z->bl_code);
	}
	/* the fixed code has 288 literal/length codes (286 and 287 never occur but take part
	 * in the canonical numbering, RFC 1951 §3.2.6); a dynamic one has at most 286 */
	build_codes(z->ll_len, z->bt == BT_FIXED ? L_CODES + 2 : L_CODES, z->ll_code);
	build_codes(z->d_len, D_CODES, z->d_code);
	z->sub = BS_HEAD;
	if (z->run_len) { /* the stored run goes first */
		z->st_pos = z->run_start;
		z->st_left = z->run_len;
		z->run_len = 0;
		z->st_final = 0;
		z->st_next = BS_HEAD;
		z->sub = BS_ST_HEAD;
	}
}

/* Write the run of stored blocks kept back, on its own (before a slide drops it, or on a
 * SYNC with no symbols); the open block is left as it is. */
static void start_run_flush(struct http_gzip *z, int after)
{
	z->after = after;
	z->phase = PH_BLOCK;
	z->st_pos = z->run_start;
	z->st_left = z->run_len;
	z->run_len = 0;
	z->st_final = 0;
	z->st_next = BS_RUN_END;
	z->sub = BS_ST_HEAD;
}

/* Code symbols emit_i.. until the block ends or pend is nearly full. */
static void emit_syms(struct http_gzip *z)
{
	unsigned i = z->emit_i, nsym = z->nsym;
	while (i < nsym && PEND_SIZE - z->pend_len >= 16) {
		unsigned d = z->sym_dist[i], c = z->sym_ll[i];
		if (d == 0) {
			put_bits(z, z->ll_code[c], z->ll_len[c]);
		} else {
			unsigned lc = len_sym[c], s = 257 + lc;
			put_bits(z,
				 z->ll_code[s] | (uint32_t)(c + 3 - len_base[lc]) << z->ll_len[s],
				 z->ll_len[s] + len_extra[lc]);
			unsigned d0 = d - 1, dc = dist_code(d0);
			put_bits(z,
				 z->d_code[dc] | (uint32_t)(d0 + 1 - dist_base[dc]) << z->d_len[dc],
				 z->d_len[dc] + dist_extra[dc]);
		}
		i++;
	}
	z->emit_i = i;
}

/* Encode as much of the block as pend has room for. */
static void emit_block(struct http_gzip *z)
{
	while (PEND_SIZE - z->pend_len >= PEND_ROOM) {
		switch (z->sub) {
		case BS_HEAD:
			put_bits(z, (uint32_t)z->final | (uint32_t)z->bt << 1, 3);
			if (z->bt == BT_DYN) {
				put_bits(z, z->hlit - 257, 5);
				put_bits(z, z->hdist - 1, 5);
				put_bits(z, z->hclen - 4, 4);
				for (unsigned i = 0; i < z->hclen; i++)
					put_bits(z, z->bl_len[bl_order[i]], 3);
				z->sub = BS_TREE;
			} else {
				z->sub = BS_SYMS;
			}
			break;
		case BS_TREE:
			while (z->emit_i < z->ntree && PEND_SIZE - z->pend_len >= 8) {
				unsigned s = z->tree[z->emit_i], x = z->tree_extra[z->emit_i];
				put_bits(z, z->bl_code[s], z->bl_len[s]);
				if (s >= 16)
					put_bits(z, x, s == 16 ? 2 : s == 17 ? 3 : 7);
				z->emit_i++;
			}
			if (z->emit_i == z->ntree) {
				z->emit_i = 0;
				z->sub = BS_SYMS;
			}
			break;
		case BS_SYMS:
			emit_syms(z);
			if (z->emit_i == z->nsym)
				z->sub = BS_EOB;
			break;
		case BS_EOB:
			put_bits(z, z->ll_code[256], z->ll_len[256]);
			z->sub = BS_END;
			break;
		case BS_ST_HEAD: {
			unsigned len = z->st_left < STORED_MAX ? z->st_left : STORED_MAX;
			int last = len == z->st_left;
			put_bits(z, (uint32_t)(z->st_final && last), 3); /* BFINAL, BTYPE 00 */
			align_bits(z);
			put_u32le(z, len | (uint32_t)(~len & 0xffffu) << 16); /* LEN, NLEN */
			z->st_chunk = len;
			z->st_left -= len;
			z->sub = BS_ST_RAW;
			break;
		}
		case BS_ST_RAW: {
			unsigned k = PEND_SIZE - z->pend_len;
			if (k > z->st_chunk)
				k = z->st_chunk;
			memcpy(z->pend + z->pend_len, z->win + z->st_pos, k);
			z->pend_len += k;
			z->st_pos += k;
			z->st_chunk -= k;
			if (z->st_chunk == 0)
				z->sub = z->st_left ? BS_ST_HEAD : z->st_next;
			break;
		}
		case BS_END:
			reset_block(z);
			z->phase = z->after;
			return;
		case BS_RUN_END: z->phase = z->after; return;
		}
	}
}

/* --- LZ77 -------------------------------------------------------------------------- */

/* Drop the lower half of the window; positions in the tables move down with it and
 * those that fall off become 0 (none). */
static void slide(struct http_gzip *z)
{
	memcpy(z->win, z->win + WSIZE, WSIZE);
	z->strstart -= WSIZE;
	z->prev_match = z->prev_match >= WSIZE ? z->prev_match - WSIZE : 0;
	if (z->run_len)
		z->run_start -= WSIZE; /* >= WSIZE: the caller wrote it out otherwise */
	if (z->block_start >= 0)
		z->block_start -= WSIZE;
	if (z->block_start < 0)
		z->block_start = -1; /* stored is no longer an option for this block */
	for (unsigned i = 0; i < HSIZE; i++)
		z->head[i] = z->head[i] >= WSIZE ? (uint16_t)(z->head[i] - WSIZE) : 0;
	for (unsigned i = 0; i < WSIZE; i++)
		z->prev[i] = z->prev[i] >= WSIZE ? (uint16_t)(z->prev[i] - WSIZE) : 0;
}

static inline uint32_t hash3(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
	return (v * 0x9e3779b1u) >> (32 - HBITS);
}

/* Insert position p (which has 3 bytes loaded) and return the previous head. */
static inline unsigned insert(struct http_gzip *z, unsigned p)
{
	uint32_t h = hash3(z->win + p);
	unsigned old = z->head[h];
	z->prev[p & WMASK] = (uint16_t)old;
	z->head[h] = (uint16_t)p;
	return old;
}

static inline unsigned match_len(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned n = 0;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (n + 8 <= max) {
		uint64_t x, y;
		memcpy(&x, a + n, 8);
		memcpy(&y, b + n, 8);
		if (x != y)
			return n + ((unsigned)__builtin_ctzll(x ^ y) >> 3);
		n += 8;
	}
#endif
	while (n < max && a[n] == b[n])
		n++;
	return n;
}

static inline uint16_t load16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

/* Longest match for strstart along the chain from cand, if longer than `best`; its
 * position goes to *pos. */
static unsigned longest_match(struct http_gzip *z, unsigned cand, unsigned best, unsigned *pos)
{
	unsigned cur = z->strstart;
	unsigned limit = cur > MAX_DIST ? cur - MAX_DIST : 0;
	unsigned maxlen = z->lookahead < MAX_MATCH ? z->lookahead : MAX_MATCH;
	unsigned nice = z->nice_length < maxlen ? z->nice_length : maxlen;
	unsigned chain = z->max_chain;
	const uint8_t *b = z->win + cur;
	if (best >= z->good_length)
		chain >>= 2;
	if (best >= maxlen)
		return best;
	/* a longer match must agree on the two bytes ending at b[best] and on the first two */
	uint16_t end2 = load16(b + best - 1), start2 = load16(b);
	while (cand > limit && chain-- > 0) {
		const uint8_t *a = z->win + cand;
		if (load16(a + best - 1) == end2 && load16(a) == start2) {
			unsigned len = 2 + match_len(a + 2, b + 2, maxlen - 2);
			if (len > best) {
				best = len;
				*pos = cand;
				if (len >= nice)
					break;
				end2 = load16(b + best - 1);
			}
		}
		cand = z->prev[cand & WMASK];
	}
	return best;
}

static inline void tally_lit(struct http_gzip *z, uint8_t c)
{
	z->sym_ll[z->nsym] = c;
	z->sym_dist[z->nsym] = 0;
	z->nsym++;
	z->ll_freq[c]++;
	z->block_raw++;
}

static inline void tally_match(struct http_gzip *z, unsigned len, unsigned dist)
{
	z->sym_ll[z->nsym] = (uint8_t)(len - MIN_MATCH);
	z->sym_dist[z->nsym] = (uint16_t)dist;
	z->nsym++;
	z->ll_freq[257 + len_sym[len - MIN_MATCH]]++;
	z->d_freq[dist_code(dist - 1)]++;
	z->block_raw += len;
}

/* Insert positions from..to-1, those that have 3 bytes loaded. */
static inline void insert_range(struct http_gzip *z, unsigned from, unsigned to)
{
	unsigned end = z->strstart + z->lookahead; /* caller has not advanced yet */
	if (to + MIN_MATCH > end)
		to = end >= MIN_MATCH ? end - MIN_MATCH + 1 : 0;
	for (unsigned p = from; p < to; p++)
		insert(z, p);
}

/* Levels 1..3: take the longest match at each position. */
static void compress_greedy(struct http_gzip *z, int flushing)
{
	while (z->nsym < SYM_MAX && z->lookahead > 0 &&
	       (flushing || z->lookahead >= MIN_LOOKAHEAD)) {
		unsigned len = 0, mpos = 0, s = z->strstart;
		if (z->lookahead >= MIN_MATCH) {
			unsigned cand = insert(z, s);
			if (cand)
				len = longest_match(z, cand, MIN_MATCH - 1, &mpos);
			if (len == MIN_MATCH && s - mpos > TOO_FAR)
				len = 0;
		}
		if (len >= MIN_MATCH) {
			tally_match(z, len, s - mpos);
			if (len <= z->max_lazy)
				insert_range(z, s + 1, s + len);
			z->strstart += len;
			z->lookahead -= len;
		} else {
			tally_lit(z, z->win[s]);
			z->strstart++;
			z->lookahead--;
		}
	}
}

/* Levels 4..9: a match is taken only if the next position has no longer one. */
static void compress_lazy(struct http_gzip *z, int flushing)
{
	while (z->nsym < SYM_MAX && z->lookahead > 0 &&
	       (flushing || z->lookahead >= MIN_LOOKAHEAD)) {
		unsigned s = z->strstart, len = MIN_MATCH - 1, mpos = 0;
		unsigned plen = z->prev_length;
		if (z->lookahead >= MIN_MATCH) {
			unsigned cand = insert(z, s);
			if (cand && plen < z->max_lazy) {
				len = longest_match(z, cand, plen > len ? plen : len, &mpos);
				if (len <= plen || mpos == 0)
					len = MIN_MATCH - 1; /* nothing better than plen */
				else if (len == MIN_MATCH && s - mpos > TOO_FAR)
					len = MIN_MATCH - 1;
			}
		}
		if (plen >= MIN_MATCH && len <= plen) {
			/* the match at s - 1 wins */
			tally_match(z, plen, s - 1 - z->prev_match);
			unsigned stop = s - 1 + plen;
			insert_range(z, s + 1, stop);
			z->lookahead -= stop - s;
			z->strstart = stop;
			z->match_available = 0;
			z->prev_length = MIN_MATCH - 1;
		} else {
			if (z->match_available)
				tally_lit(z, z->win[s - 1]);
			z->match_available = 1;
			z->prev_length = len;
			z->prev_match = mpos;
			z->strstart++;
			z->lookahead--;
		}
	}
	if (flushing && z->lookahead == 0 && z->match_available && z->nsym < SYM_MAX) {
		tally_lit(z, z->win[z->strstart - 1]);
		z->match_available = 0;
		z->prev_length = MIN_MATCH - 1;
	}
}

/* --- driver ------------------------------------------------------------------------ */

int http_gzip_step(struct http_gzip *z, const uint8_t *in, size_t n, size_t *used, uint8_t *out,
		   size_t cap, size_t *wrote, int flush)
{
	size_t u = 0, w = 0;
	int ret = 0;

	for (;;) {
		if (z->pend_pos < z->pend_len) {
			size_t k = z->pend_len - z->pend_pos;
			if (k > cap - w)
				k = cap - w;
			if (k) {
				memcpy(out + w, z->pend + z->pend_pos, k);
				w += k;
				z->pend_pos += (unsigned)k;
			}
			if (z->pend_pos < z->pend_len)
				break; /* output full */
		}
		z->pend_pos = z->pend_len = 0;
		switch (z->phase) {
		case PH_DONE: ret = 1; goto out;
		case PH_BLOCK: emit_block(z); continue;
		case PH_MARK: /* empty stored block: 000, pad, 00 00 ff ff */
			put_bits(z, 0, 3);
			align_bits(z);
			put_u32le(z, 0xffff0000u);
			z->synced = 1;
			z->phase = PH_RUN;
			continue;
		case PH_TRAILER: /* RFC 1952 §2.3.1: CRC32, ISIZE */
			align_bits(z);
			put_u32le(z, z->crc);
			put_u32le(z, z->isize);
			z->phase = PH_DONE;
			continue;
		default: break;
		}

		/* PH_RUN: take input into the window */
		if (u < n) {
			/* slide only when the window is full: the parser then stopped at the
			 * same position however the input was cut, so the output is the same */
			if (z->strstart + z->lookahead == WBUF && z->strstart >= WSIZE + MAX_DIST) {
				if (z->run_len && z->run_start < (long)WSIZE) {
					start_run_flush(z, PH_RUN);
					continue;
				}
				slide(z);
			}
			size_t room = WBUF - z->strstart - z->lookahead;
			if (room > n - u)
				room = n - u;
			if (room) {
				memcpy(z->win + z->strstart + z->lookahead, in + u, room);
				z->crc = http_gzip_crc32(z->crc, in + u, room);
				z->isize += (uint32_t)room;
				z->lookahead += (unsigned)room;
				u += room;
				z->synced = 0;
			}
		}
		int flushing = u == n && flush != HTTP_GZIP_NONE;
		if (z->level <= 3)
			compress_greedy(z, flushing);
		else
			compress_lazy(z, flushing);
		if (z->nsym == SYM_MAX) {
			start_block(z, 0, PH_RUN);
			continue;
		}
		if (u < n)
			continue;
		if (!flushing)
			break;
		if (flush == HTTP_GZIP_FINISH) {
			start_block(z, 1, PH_TRAILER);
			continue;
		}
		if (z->synced)
			break;
		if (z->nsym > 0)
			start_block(z, 0, PH_MARK);
		else if (z->run_len)
			start_run_flush(z, PH_MARK);
		else
			z->phase = PH_MARK;
	}
out:
	*used = u;
	*wrote = w;
	return ret;
}
