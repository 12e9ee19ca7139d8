/* SPDX-License-Identifier: MIT */
/* Error codes and tier names shared by every component. */
#include <strings.h>

#include "pv.h"

const char *pv_strerror(int err)
{
	switch (err) {
	case PV_OK:
		return "success";
	case PV_ENOMEM:
		return "out of memory";
	case PV_EINVAL:
		return "invalid argument";
	case PV_EIO:
		return "input/output error";
	case PV_ENOTFOUND:
		return "not found";
	case PV_EEXIST:
		return "already exists";
	case PV_EFULL:
		return "no free address on the server";
	case PV_ETIER:
		return "server outside the caller's tier";
	case PV_EAUTH:
		return "authentication failed";
	case PV_EHOSTKEY:
		return "SSH host key unknown or changed";
	case PV_EUNREACH:
		return "server unreachable";
	case PV_ETIMEOUT:
		return "operation timed out";
	case PV_EREMOTE:
		return "remote command failed";
	case PV_EDB:
		return "database error";
	case PV_EBUSY:
		return "resource busy";
	case PV_ECRYPTO:
		return "cryptographic library failure";
	case PV_EINUSE:
		return "address already in use on the server";
	}
	return "unknown error";
}

enum pv_tier pv_tier_parse(const char *s)
{
	if (!s)
		return PV_TIER_NONE;
	if (strcasecmp(s, "basic") == 0)
		return PV_TIER_BASIC;
	if (strcasecmp(s, "pro") == 0)
		return PV_TIER_PRO;
	return PV_TIER_NONE;
}

const char *pv_tier_name(enum pv_tier t)
{
	switch (t) {
	case PV_TIER_BASIC:
		return "basic";
	case PV_TIER_PRO:
		return "pro";
	case PV_TIER_NONE:
		break;
	}
	return "none";
}

int pv_tier_allows(enum pv_tier user, enum pv_tier server)
{
	if (user == PV_TIER_NONE || server == PV_TIER_NONE)
		return 0;
	return user >= server;
}
