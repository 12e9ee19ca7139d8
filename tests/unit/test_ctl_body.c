/* SPDX-License-Identifier: MIT */
/* Request bodies: strict JSON against each route's field whitelist. */
#include <string.h>

#include "controller.h"
#include "test.h"

#define PROV (CTL_ARG_SERVER | CTL_ARG_DEVICE | CTL_ARG_PUBKEY)

static struct ctl_args a;
static char err[256];

static int parse(const char *body, unsigned allowed, unsigned required)
{
	err[0] = '\0';
	return ctl_args_parse(&a, body, strlen(body), allowed, required, err, sizeof(err));
}

int main(void)
{
	TEST_START("a full provision body fills every argument");
	ASSERT_INT_EQ(parse("{\"server_id\":\"eu-west-1\",\"device\":\"lap.top_2\","
	                    "\"public_key\":\"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\"}",
	                    PROV, CTL_ARG_SERVER),
	              0);
	ASSERT_STR_EQ(a.server_id, "eu-west-1");
	ASSERT_STR_EQ(a.device, "lap.top_2");
	ASSERT_STR_EQ(a.public_key, "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=");
	ASSERT_INT_EQ(a.set, PROV);
	TEST_DONE();

	TEST_START("unknown fields are refused by name");
	ASSERT_INT_EQ(parse("{\"server_id\":\"x\",\"sever\":1}", PROV, CTL_ARG_SERVER), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "unknown field \"sever\"");
	ASSERT_INT_EQ(parse("{\"server_id\":\"x\",\"user_id\":\"u\"}", PROV, 0), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"user_id\"");
	TEST_DONE();

	TEST_START("a missing required field is named");
	ASSERT_INT_EQ(parse("{\"device\":\"d\"}", PROV, CTL_ARG_SERVER), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"server_id\" is required");
	TEST_DONE();

	TEST_START("bad values are refused, naming the field");
	ASSERT_INT_EQ(parse("{\"server_id\":5}", PROV, 0), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"server_id\"");
	ASSERT_INT_EQ(parse("{\"server_id\":\"EU WEST\"}", PROV, 0), PV_EINVAL);
	ASSERT_INT_EQ(parse("{\"device\":\"a;rm -rf\"}", PROV, 0), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"device\"");
	ASSERT_INT_EQ(parse("{\"device\":\"\"}", PROV, 0), PV_EINVAL);
	ASSERT_INT_EQ(parse("{\"device\":\"a\\u0000b\"}", PROV, 0), PV_EINVAL);
	ASSERT_INT_EQ(
	        parse("{\"public_key\":\"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykx=\"}", PROV, 0),
	        PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"public_key\"");
	ASSERT_INT_EQ(parse("{\"public_key\":null}", PROV, 0), PV_EINVAL);
	TEST_DONE();

	TEST_START("malformed JSON, duplicates and non-objects are refused");
	ASSERT_INT_EQ(parse("{\"server_id\":\"a\",\"server_id\":\"b\"}", PROV, 0), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "duplicate");
	ASSERT_INT_EQ(parse("{\"server_id\":", PROV, 0), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "not valid JSON");
	ASSERT_INT_EQ(parse("[]", PROV, 0), PV_EINVAL);
	ASSERT_INT_EQ(parse("", PROV, 0), PV_EINVAL);
	ASSERT_INT_EQ(parse("{} {}", PROV, 0), PV_EINVAL);
	TEST_DONE();

	TEST_START("tier and all are parsed into their own kinds");
	ASSERT_INT_EQ(parse("{\"user_id\":\"u1\",\"tier\":\"Pro\"}", CTL_ARG_USER | CTL_ARG_TIER,
	                    CTL_ARG_USER | CTL_ARG_TIER),
	              0);
	ASSERT_INT_EQ(a.tier, PV_TIER_PRO);
	ASSERT_INT_EQ(
	        parse("{\"user_id\":\"u1\",\"tier\":\"gold\"}", CTL_ARG_USER | CTL_ARG_TIER, 0),
	        PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"tier\"");
	ASSERT_INT_EQ(parse("{\"all\":true}", CTL_ARG_ALL, 0), 0);
	ASSERT_INT_EQ(a.all, 1);
	ASSERT_INT_EQ(parse("{\"all\":false}", CTL_ARG_ALL, 0), PV_EINVAL);
	ASSERT_INT_EQ(parse("{\"user_id\":\"u_1\"}", CTL_ARG_USER, 0), PV_EINVAL);
	TEST_DONE();
	TEST_SUMMARY();
}
