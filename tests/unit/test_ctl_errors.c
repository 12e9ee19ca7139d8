/* SPDX-License-Identifier: MIT */
/* The one error table: every code maps to docs/api.md's status and JSON code. */
#include "controller.h"
#include "test.h"

static void expect(int err, int status, const char *code)
{
	const char *got = NULL;

	ASSERT_INT_EQ(ctl_err_status(err, &got), status);
	ASSERT_STR_EQ(got, code);
}

int main(void)
{
	TEST_START("client mistakes map to 4xx codes of docs/api.md");
	expect(PV_EINVAL, 400, "bad_request");
	expect(PV_EAUTH, 401, "unauthorized");
	expect(PV_EDISABLED, 401, "unauthorized");
	expect(PV_ETIER, 403, "forbidden_tier");
	expect(PV_ENOTFOUND, 404, "not_found");
	expect(CTL_ENOPATH, 404, "not_found");
	expect(CTL_EMETHOD, 405, "method_not_allowed");
	expect(PV_EFULL, 409, "server_full");
	expect(CTL_ETOOLARGE, 413, "too_large");
	TEST_DONE();

	TEST_START("every way a push can fail is 503 unreachable");
	expect(PV_EUNREACH, 503, "unreachable");
	expect(PV_ETIMEOUT, 503, "unreachable");
	expect(PV_EREMOTE, 503, "unreachable");
	expect(PV_EHOSTKEY, 503, "unreachable");
	expect(PV_EBUSY, 503, "unreachable");
	TEST_DONE();

	TEST_START("local failures and unknown codes are 500 internal");
	expect(PV_EDB, 500, "internal");
	expect(PV_ENOMEM, 500, "internal");
	expect(PV_EIO, 500, "internal");
	expect(PV_ECRYPTO, 500, "internal");
	expect(-999, 500, "internal");
	TEST_DONE();
	TEST_SUMMARY();
}
