/* base_err.c — names and messages for ERR_TABLE. */
#include "base/base_err.h"

#include <errno.h>

struct err_entry {
	int num;
	const char *name;
	const char *msg;
};

static const struct err_entry err_entries[] = {
#define ERR_ENTRY_(name, num, msg) {num, #name, msg},
	ERR_TABLE(ERR_ENTRY_)
#undef ERR_ENTRY_
};

static const struct err_entry *err_find(int e)
{
	if (e < 0)
		e = -e;
	for (unsigned i = 0; i < sizeof err_entries / sizeof err_entries[0]; i++)
		if (err_entries[i].num == e)
			return &err_entries[i];
	return 0;
}

const char *err_name(int e)
{
	const struct err_entry *ent = err_find(e);
	return ent ? ent->name : "UNKNOWN";
}

const char *err_str(int e)
{
	const struct err_entry *ent = err_find(e);
	return ent ? ent->msg : "unknown error";
}

int err_from_errno(int errnum)
{
	switch (errnum) {
	case 0: return ERR_OK;
	case ENOMEM: return -ERR_NOMEM;
	case EINVAL: return -ERR_INVAL;
	case EAGAIN: return -ERR_AGAIN;
	case ENOENT: return -ERR_NOTFOUND;
	case EEXIST: return -ERR_EXISTS;
	case ERANGE: return -ERR_RANGE;
	case EPIPE:
	case ECONNRESET: return -ERR_CLOSED;
	case ETIMEDOUT: return -ERR_TIMEOUT;
	case EACCES:
	case EPERM: return -ERR_PERM;
	case EIO: return -ERR_IO;
	default: return -ERR_SYS;
	}
}
