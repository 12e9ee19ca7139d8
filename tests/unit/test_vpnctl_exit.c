/* SPDX-License-Identifier: MIT */
/* Controller answers map to the documented exit codes (docs/vpnctl.md), each with a next step. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vpnctl.h"

/* vpnctl_api_fail's exit code, with its stderr captured into msg. */
static int fail_code(int err, long status, char *msg, size_t len)
{
	struct vpnctl_api_error e = {.status = status};
	FILE *tmp = tmpfile();
	int saved = dup(2), code;
	size_t n;

	snprintf(e.msg, sizeof(e.msg), "controller said no");
	ASSERT_TRUE(tmp != NULL && saved >= 0);
	fflush(stderr);
	dup2(fileno(tmp), 2);
	code = vpnctl_api_fail(err, &e, "connect");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(msg, 1, len - 1, tmp);
	msg[n] = '\0';
	fclose(tmp);
	return code;
}

static void test_codes_and_next_steps(void)
{
	char msg[1024];

	TEST_START("each controller failure has its exit code and tells the next step");
	ASSERT_INT_EQ(fail_code(PV_EAUTH, 401, msg, sizeof(msg)), VX_AUTH);
	ASSERT_STR_CONTAINS(msg, "vpnctl login");
	ASSERT_INT_EQ(fail_code(PV_ETIER, 403, msg, sizeof(msg)), VX_REFUSED);
	ASSERT_STR_CONTAINS(msg, "not in your tier");
	ASSERT_INT_EQ(fail_code(PV_EFULL, 409, msg, sizeof(msg)), VX_REFUSED);
	ASSERT_STR_CONTAINS(msg, "try another");
	ASSERT_INT_EQ(fail_code(PV_EUNREACH, 0, msg, sizeof(msg)), VX_NETWORK);
	ASSERT_STR_CONTAINS(msg, "Check the URL");
	ASSERT_INT_EQ(fail_code(PV_ENOTFOUND, 404, msg, sizeof(msg)), VX_USAGE);
	ASSERT_STR_CONTAINS(msg, "vpnctl servers");
	ASSERT_INT_EQ(fail_code(PV_EREMOTE, 503, msg, sizeof(msg)), VX_NETWORK);
	ASSERT_STR_CONTAINS(msg, "controller said no");
	TEST_DONE();
}

int main(void)
{
	test_codes_and_next_steps();
	TEST_SUMMARY();
}
