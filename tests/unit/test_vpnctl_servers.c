/* SPDX-License-Identifier: MIT */
/* The server list as vpnctl reads it: each server's current WireGuard key comes along, checked. */
#include <stdlib.h>

#include "test.h"
#include "vpnctl.h"

#define KEY "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

static int parse(const char *text, struct vpnctl_server **s, size_t *n)
{
	json_t *j = json_loads(text, 0, NULL);
	int r;

	ASSERT_TRUE(j != NULL);
	r = vpnctl_servers_parse(j, s, n);
	json_decref(j);
	return r;
}

int main(void)
{
	struct vpnctl_server *s = NULL;
	size_t n = 0;

	TEST_START("a server's public_key is kept; an older controller without it gives \"\"");
	ASSERT_INT_EQ(
	        parse("{\"servers\":[{\"id\":\"a-1\",\"host\":\"203.0.113.11\",\"public_key\":\"" KEY
	              "\"},{\"id\":\"b-1\",\"host\":\"203.0.113.12\"}]}",
	              &s, &n),
	        0);
	ASSERT_INT_EQ(n, 2);
	ASSERT_STR_EQ(s[0].public_key, KEY);
	ASSERT_STR_EQ(s[1].public_key, "");
	free(s);
	TEST_DONE();

	TEST_START("a public_key that is not a canonical WireGuard key refuses the list");
	ASSERT_INT_EQ(
	        parse("{\"servers\":[{\"id\":\"a-1\",\"host\":\"h\",\"public_key\":\"x\\ny\"}]}",
	              &s, &n),
	        PV_EINVAL);
	TEST_DONE();
	TEST_SUMMARY();
}
