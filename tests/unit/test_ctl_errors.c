/* SPDX-License-Identifier: MIT */
/*
 * The one error table: every code that exists has a row (a code added to
 * pv.h or controller.h without one fails here), and the rows say what
 * docs/api.md says.
 */
#include <string.h>

#include "controller.h"
#include "test.h"

/* Codes that mean "our own fault": the only ones that may answer 500. */
static int is_internal(int err)
{
	return err == PV_ENOMEM || err == PV_EIO || err == PV_EDB || err == PV_ECRYPTO;
}

static void check_has_row(int err)
{
	const char *code = NULL;
	int status = ctl_err_status(err, &code);

	if (is_internal(err)) {
		ASSERT_INT_EQ(status, 500);
		ASSERT_STR_EQ(code, "internal");
	} else if (status == 500) {
		TEST_FAIL("error %d (%s) has no row in controller/errors.c", err, pv_strerror(err));
	}
}

static void test_every_code_has_a_row(void)
{
	int err;

	TEST_START("every PV_E* and CTL_E* code has its own row in the table");
	for (err = -1; err >= PV_ERR_MIN; err--) {
		ASSERT_TRUE(strcmp(pv_strerror(err), "unknown error") != 0);
		check_has_row(err);
	}
	for (err = CTL_ERR_MAX; err >= CTL_ERR_MIN; err--)
		check_has_row(err);
	TEST_DONE();
}

static const struct {
	int err, status;
	const char *code;
} pinned[] = {
        {PV_EINVAL, 400, "bad_request"},        {PV_EAUTH, 401, "unauthorized"},
        {PV_ETIER, 403, "forbidden_tier"},      {CTL_EMETHOD, 405, "method_not_allowed"},
        {PV_EEXIST, 409, "conflict"},           {PV_EFULL, 409, "server_full"},
        {CTL_ETOOLARGE, 413, "too_large"},      {PV_EUNREACH, 503, "unreachable"},
        {PV_ETIMEOUT, 503, "timeout"},          {PV_EHOSTKEY, 503, "host_key_mismatch"},
        {CTL_ESSHAUTH, 503, "ssh_auth_failed"}, {CTL_EQUOTA, 429, "quota_exceeded"},
        {CTL_EDRAINING, 409, "draining"},       {-999, 500, "internal"},
};

static void test_documented_rows(void)
{
	size_t i;

	TEST_START("the rows docs/api.md documents, and an unknown code is 500 internal");
	for (i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		const char *code = NULL;

		ASSERT_INT_EQ(ctl_err_status(pinned[i].err, &code), pinned[i].status);
		ASSERT_STR_EQ(code, pinned[i].code);
	}
	TEST_DONE();
}

static void test_push_cause(void)
{
	TEST_START("a server refusing the controller's SSH key is not the caller's 401");
	ASSERT_INT_EQ(ctl_push_cause(PV_EAUTH), CTL_ESSHAUTH);
	ASSERT_INT_EQ(ctl_push_cause(PV_ETIMEOUT), PV_ETIMEOUT);
	TEST_DONE();
}

int main(void)
{
	test_every_code_has_a_row();
	test_documented_rows();
	test_push_cause();
	TEST_SUMMARY();
}
