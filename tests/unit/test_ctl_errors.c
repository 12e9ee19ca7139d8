/* SPDX-License-Identifier: MIT */
/* The one error table: every code maps to docs/api.md's status and JSON code. */
#include "controller.h"
#include "test.h"

static const struct {
	const char *group;
	int err, status;
	const char *code;
} want[] = {
        {"client mistakes map to the 4xx codes of docs/api.md", PV_EINVAL, 400, "bad_request"},
        {NULL, PV_EAUTH, 401, "unauthorized"},
        {NULL, PV_EDISABLED, 401, "unauthorized"},
        {NULL, PV_ETIER, 403, "forbidden_tier"},
        {NULL, PV_ENOTFOUND, 404, "not_found"},
        {NULL, CTL_ENOPATH, 404, "not_found"},
        {NULL, CTL_EMETHOD, 405, "method_not_allowed"},
        {NULL, PV_EFULL, 409, "server_full"},
        {NULL, CTL_ETOOLARGE, 413, "too_large"},
        {"every way a push can fail is 503 unreachable", PV_EUNREACH, 503, "unreachable"},
        {NULL, PV_ETIMEOUT, 503, "unreachable"},
        {NULL, PV_EREMOTE, 503, "unreachable"},
        {NULL, PV_EHOSTKEY, 503, "unreachable"},
        {NULL, PV_EBUSY, 503, "unreachable"},
        {"local failures and unknown codes are 500 internal", PV_EDB, 500, "internal"},
        {NULL, PV_ENOMEM, 500, "internal"},
        {NULL, PV_EIO, 500, "internal"},
        {NULL, PV_ECRYPTO, 500, "internal"},
        {NULL, -999, 500, "internal"},
};

int main(void)
{
	size_t i, n = sizeof(want) / sizeof(want[0]);

	for (i = 0; i < n; i++) {
		const char *code = NULL;

		if (want[i].group)
			TEST_START(want[i].group);
		ASSERT_INT_EQ(ctl_err_status(want[i].err, &code), want[i].status);
		ASSERT_STR_EQ(code, want[i].code);
		if (i + 1 == n || want[i + 1].group)
			TEST_DONE();
	}
	TEST_SUMMARY();
}
