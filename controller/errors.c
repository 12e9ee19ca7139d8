/* SPDX-License-Identifier: MIT */
/*
 * The one table mapping error codes (pv.h's PV_E* and the controller's
 * CTL_E*) to an HTTP status and the JSON "code" of docs/api.md.
 */
#include <stdarg.h>
#include <stdio.h>

#include "controller.h"

static const struct {
	int err;
	int status;
	const char *code;
} table[] = {
        /* The caller's mistakes. */
        {PV_EINVAL, 400, "bad_request"},
        {PV_EAUTH, 401, "unauthorized"},
        {PV_ETIER, 403, "forbidden_tier"},
        {PV_ENOTFOUND, 404, "not_found"},
        {CTL_ENOPATH, 404, "not_found"},
        {CTL_EMETHOD, 405, "method_not_allowed"},
        {PV_EEXIST, 409, "conflict"},
        {PV_EFULL, 409, "server_full"},
        {PV_EINUSE, 409, "address_in_use"},
        {CTL_EDRAINING, 409, "draining"},
        {CTL_ETOOLARGE, 413, "too_large"},
        {CTL_ELIMITED, 429, "rate_limited"},
        {CTL_EQUOTA, 429, "quota_exceeded"},
        /* A server could not be changed: the code says why, the status that it is not ours. */
        {PV_EUNREACH, 503, "unreachable"},
        {PV_ETIMEOUT, 503, "timeout"},
        {PV_EREMOTE, 503, "remote_error"},
        {PV_EHOSTKEY, 503, "host_key_mismatch"},
        {CTL_ESSHAUTH, 503, "ssh_auth_failed"},
        {PV_EBUSY, 503, "busy"},
        /* Our own failures. */
        {PV_ENOMEM, 500, "internal"},
        {PV_EIO, 500, "internal"},
        {PV_EDB, 500, "internal"},
        {PV_ECRYPTO, 500, "internal"},
};

int ctl_err_status(int err, const char **code)
{
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].err == err) {
			*code = table[i].code;
			return table[i].status;
		}
	}
	/* A code missing above is a bug; test_ctl_errors walks every code. */
	*code = "internal";
	return 500;
}

int ctl_push_cause(int err)
{
	return err == PV_EAUTH ? CTL_ESSHAUTH : err;
}

void ctl_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
