/* SPDX-License-Identifier: MIT */
/* The controller's config file, flags and their errors naming file and field. */
#include <stdio.h>
#include <unistd.h>

#include "controller.h"
#include "test.h"

static char path[64];
static char err[512];

static int load(const char *json, struct ctl_config **out)
{
	FILE *f = fopen(path, "w");

	ASSERT_TRUE(f != NULL);
	fputs(json, f);
	fclose(f);
	*out = ctl_config_new();
	ASSERT_TRUE(*out != NULL);
	err[0] = '\0';
	return ctl_config_load(*out, path, err, sizeof(err));
}

/* The file is refused with PV_EINVAL and an error holding both needles. */
static void refused(const char *json, const char *needle1, const char *needle2)
{
	struct ctl_config *cfg;

	ASSERT_INT_EQ(load(json, &cfg), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, needle1);
	ASSERT_STR_CONTAINS(err, needle2);
	ctl_config_free(cfg);
}

#define FULL                                                                                       \
	"{\"http_listen\":\"127.0.0.1:8080\",\"db_path\":\"/tmp/x.db\",\"fleet_path\":\"f.json\"," \
	"\"ssh_identity\":\"id\",\"known_hosts\":\"kh\",\"secrets_file\":\"s\","                   \
	"\"admin_token_file\":\"t\",\"state_key_file\":\"k\",\"max_body_bytes\":4096}"

static void test_file(void)
{
	struct ctl_config *cfg;

	TEST_START("a complete config file loads, keeps defaults and passes the check");
	ASSERT_INT_EQ(load(FULL, &cfg), 0);
	ASSERT_STR_EQ(cfg->db_path, "/tmp/x.db");
	ASSERT_INT_EQ(cfg->max_body_bytes, 4096);
	ASSERT_INT_EQ(cfg->health_interval_s, 60);
	ASSERT_STR_EQ(cfg->client_allowed_ips, "0.0.0.0/0, ::/0");
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	TEST_DONE();

	TEST_START("a flag overrides the file, and a bad flag value names the flag");
	ASSERT_INT_EQ(ctl_config_set(cfg, "db_path", "/tmp/y.db", err, sizeof(err)), 0);
	ASSERT_STR_EQ(cfg->db_path, "/tmp/y.db");
	ASSERT_INT_EQ(ctl_config_set(cfg, "max_body_bytes", "12x", err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "--max_body_bytes");
	ASSERT_INT_EQ(ctl_config_set(cfg, "no_such", "1", err, sizeof(err)), PV_EINVAL);
	ASSERT_INT_EQ(cfg->max_body_bytes, 4096);
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("an unknown field is refused, naming the file and the field");
	refused("{\"db_pth\":\"x\"}", path, "\"db_pth\"");
	TEST_DONE();

	TEST_START("a wrong type or an out-of-range number names the field");
	refused("{\"db_path\":5}", "\"db_path\" must be a string", "");
	refused("{\"max_body_bytes\":\"big\"}", "\"max_body_bytes\" must be an integer", "");
	refused("{\"health_interval_s\":0}", "health_interval_s", "out of range");
	TEST_DONE();

	TEST_START("broken JSON and duplicate fields give the file, line and column");
	refused("{\"db_path\":\"a\",\n\"db_path\":\"b\"}", path, "duplicate");
	refused("{\"db_path\":", path, ":1:");
	refused("[1]", path, "object");
	TEST_DONE();
}

static void test_check(void)
{
	struct ctl_config *cfg;

	TEST_START("a missing required field is named with its flag");
	ASSERT_INT_EQ(load("{\"http_listen\":\"127.0.0.1:1\"}", &cfg), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "\"db_path\" is required");
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("exactly one of db_path and db_url; a db_url not postgresql:// is not echoed");
	ASSERT_INT_EQ(load(FULL, &cfg), 0);
	ASSERT_INT_EQ(
	        ctl_config_set(cfg, "db_url", "postgresql://pv:s3cret@db/pv", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "exclude each other");
	ASSERT_INT_EQ(ctl_config_set(cfg, "db_path", "", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "db_url", "mysql://pv:s3cret@db/pv", err, sizeof(err)),
	              0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "postgresql://");
	ASSERT_TRUE(strstr(err, "s3cret") == NULL);
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("HTTPS without a certificate, or no listener at all, is refused");
	ASSERT_INT_EQ(load(FULL, &cfg), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "https_listen", "[::1]:8443", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "tls_cert");
	ASSERT_INT_EQ(ctl_config_set(cfg, "https_listen", "", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "http_listen", "", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "http_listen");
	ASSERT_INT_EQ(ctl_config_set(cfg, "http_listen", "localhost", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "not host:port");
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("plain HTTP off loopback is refused unless allow_public_http is set");
	ASSERT_INT_EQ(load(FULL, &cfg), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "http_listen", "[::1]:8080", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "http_listen", "127.9.9.9:8080", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "http_listen", "0.0.0.0:8080", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "not a loopback address");
	ASSERT_STR_CONTAINS(err, "allow_public_http");
	ASSERT_INT_EQ(ctl_config_set(cfg, "http_listen", "203.0.113.2:80", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_INT_EQ(ctl_config_set(cfg, "allow_public_http", "yes", err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "true or false");
	ASSERT_INT_EQ(ctl_config_set(cfg, "allow_public_http", "true", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ctl_config_free(cfg);
	ASSERT_INT_EQ(load("{\"allow_public_http\": 1}", &cfg), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "must be true or false");
	ctl_config_free(cfg);
	ASSERT_INT_EQ(load("{\"allow_public_http\": true, \"request_timeout_s\": 5}", &cfg), 0);
	ASSERT_TRUE(cfg->allow_public_http == 1 && cfg->request_timeout_s == 5);
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("metrics_listen (no token) is accepted on loopback only, naming the field");
	ASSERT_INT_EQ(load(FULL, &cfg), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "127.0.0.1:9108", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "127.8.9.10:1", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "[::1]:9108", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "0.0.0.0:9108", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "metrics_listen");
	ASSERT_STR_CONTAINS(err, "loopback");
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "[::]:9108", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "localhost:9108", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "203.0.113.2:9108", err, sizeof(err)),
	              0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), PV_EINVAL);
	ASSERT_INT_EQ(ctl_config_set(cfg, "metrics_listen", "", err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("listen addresses parse as host:port and [v6]:port only");
	{
		char host[64];
		uint16_t port = 1;

		ASSERT_INT_EQ(ctl_listen_parse("203.0.113.2:8443", host, sizeof(host), &port), 0);
		ASSERT_STR_EQ(host, "203.0.113.2");
		ASSERT_INT_EQ(port, 8443);
		ASSERT_INT_EQ(ctl_listen_parse("[::1]:0", host, sizeof(host), &port), 0);
		ASSERT_STR_EQ(host, "::1");
		ASSERT_INT_EQ(port, 0);
		ASSERT_INT_EQ(ctl_listen_parse("::1:80", host, sizeof(host), &port), PV_EINVAL);
		ASSERT_INT_EQ(ctl_listen_parse("h:65536", host, sizeof(host), &port), PV_EINVAL);
		ASSERT_INT_EQ(ctl_listen_parse("h:-1", host, sizeof(host), &port), PV_EINVAL);
		ASSERT_INT_EQ(ctl_listen_parse(":80", host, sizeof(host), &port), PV_EINVAL);
		ASSERT_INT_EQ(ctl_listen_parse("h:", host, sizeof(host), &port), PV_EINVAL);
		ASSERT_INT_EQ(ctl_listen_parse("[]:80", host, sizeof(host), &port), PV_EINVAL);
	}
	TEST_DONE();
}

int main(void)
{
	snprintf(path, sizeof(path), "/tmp/test_ctl_config.%d.json", (int)getpid());
	test_file();
	test_check();
	unlink(path);
	TEST_SUMMARY();
}
