/* SPDX-License-Identifier: MIT */
/* vpnctl's files: atomic 0600 secret files, the login config, key and device rules. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "test.h"
#include "vpnctl.h"

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	if (d)
		closedir(d);
	return n;
}

static void test_secret_file_is_0600_and_atomic(char *dir)
{
	char path[512], *back = NULL;
	struct stat st;

	TEST_START("a secret file is written 0600 even under umask 0, and leaves no temp file");
	umask(0);
	ASSERT_INT_EQ(vpnctl_write_secret_file(dir, "x.conf", "one\n", 4), 0);
	ASSERT_INT_EQ(vpnctl_write_secret_file(dir, "x.conf", "two\n", 4), 0);
	snprintf(path, sizeof(path), "%s/x.conf", dir);
	ASSERT_INT_EQ(stat(path, &st), 0);
	ASSERT_INT_EQ(st.st_mode & 0777, 0600);
	ASSERT_INT_EQ(pv_file_read(&back, NULL, path, 100, 1), 0);
	ASSERT_STR_EQ(back, "two\n");
	free(back);
	ASSERT_INT_EQ(count_entries(dir), 1);
	ASSERT_INT_EQ(umask(022), 0);
	ASSERT_TRUE(vpnctl_write_secret_file("/nonexistent-dir", "x.conf", "a", 1) < 0);
	TEST_DONE();
}

static void test_login_config_round_trip(const char *dir)
{
	struct vpnctl_conf c = {0}, back;
	char err[256], path[512];
	struct stat st;

	TEST_START("the login config is saved 0600 under XDG_CONFIG_HOME and loads back");
	setenv("XDG_CONFIG_HOME", dir, 1);
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), PV_ENOTFOUND);
	ASSERT_STR_CONTAINS(err, "not logged in");
	c.api_url = strdup("https://203.0.113.2:8443");
	c.api_key = strdup("u1_pro_0123456789abcdef");
	c.device = strdup("laptop");
	ASSERT_INT_EQ(vpnctl_conf_save(&c, err, sizeof(err)), 0);
	ASSERT_INT_EQ(vpnctl_conf_path(path, sizeof(path)), 0);
	ASSERT_INT_EQ(stat(path, &st), 0);
	ASSERT_INT_EQ(st.st_mode & 0777, 0600);
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), 0);
	ASSERT_STR_EQ(back.api_url, c.api_url);
	ASSERT_STR_EQ(back.api_key, c.api_key);
	ASSERT_STR_EQ(back.device, "laptop");
	ASSERT_TRUE(back.cacert == NULL);
	vpnctl_conf_clear(&back);
	ASSERT_INT_EQ(chmod(path, 0644), 0);
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "0600");
	ASSERT_INT_EQ(chmod(path, 0600), 0);
	vpnctl_conf_clear(&c);
	TEST_DONE();
}

static void test_config_dir_mode(const char *dir)
{
	struct vpnctl_conf c = {0}, back;
	char err[512], sub[512];

	TEST_START("a config directory wider than 0700 is refused with the chmod to run");
	setenv("XDG_CONFIG_HOME", dir, 1);
	snprintf(sub, sizeof(sub), "%s/vpnctl", dir);
	ASSERT_INT_EQ(chmod(sub, 0755), 0);
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "0755");
	ASSERT_STR_CONTAINS(err, "chmod 700");
	c.api_url = strdup("https://203.0.113.2:8443");
	c.api_key = strdup("u1_pro_0123456789abcdef");
	ASSERT_INT_EQ(vpnctl_conf_save(&c, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "chmod 700");
	ASSERT_INT_EQ(chmod(sub, 0700), 0);
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), 0);
	vpnctl_conf_clear(&back);
	vpnctl_conf_clear(&c);
	TEST_DONE();
}

static void test_admin_config(const char *dir)
{
	struct vpnctl_conf c = {0}, back;
	char err[256], path[512];
	FILE *f;

	TEST_START("vpnadm's config holds the admin token in its own 0600 file beside vpnctl's");
	setenv("XDG_CONFIG_HOME", dir, 1);
	cli_program = "vpnadm";
	c.api_url = strdup("https://203.0.113.2:8443");
	c.admin_token = strdup("0123456789abcdef0123456789abcdef");
	ASSERT_INT_EQ(vpnctl_conf_save(&c, err, sizeof(err)), 0);
	ASSERT_INT_EQ(vpnctl_conf_path(path, sizeof(path)), 0);
	ASSERT_STR_CONTAINS(path, "/vpnadm/config.json");
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), 0);
	ASSERT_STR_EQ(back.admin_token, c.admin_token);
	ASSERT_TRUE(back.api_key == NULL);
	vpnctl_conf_clear(&back);
	TEST_DONE();

	TEST_START("a config with both credentials, or a token with a space, is refused");
	f = fopen(path, "w");
	ASSERT_TRUE(f != NULL);
	fputs("{\"api_url\":\"https://h\",\"api_key\":\"u_pro_0123456789abcdef\","
	      "\"admin_token\":\"0123456789abcdef0123\"}",
	      f);
	fclose(f);
	ASSERT_INT_EQ(vpnctl_conf_load(&back, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "vpnadm login");
	ASSERT_INT_EQ(vpnctl_token_is_valid("0123456789abcdef0123"), 1);
	ASSERT_INT_EQ(vpnctl_token_is_valid("0123456789 abcdef0123"), 0);
	ASSERT_INT_EQ(vpnctl_token_is_valid("0123456789abcde"), 0);
	ASSERT_INT_EQ(vpnctl_token_is_valid("0123456789abcdef\n"), 0);
	ASSERT_INT_EQ(vpnctl_token_is_valid(NULL), 0);
	cli_program = "vpnctl";
	vpnctl_conf_clear(&c);
	TEST_DONE();
}

static void test_xdg_fallback(void)
{
	char path[512];

	TEST_START("without XDG_CONFIG_HOME the config lives in ~/.config/vpnctl");
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/someone", 1);
	ASSERT_INT_EQ(vpnctl_conf_path(path, sizeof(path)), 0);
	ASSERT_STR_EQ(path, "/home/someone/.config/vpnctl/config.json");
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	ASSERT_INT_EQ(vpnctl_conf_path(path, sizeof(path)), 0);
	ASSERT_STR_EQ(path, "/home/someone/.config/vpnctl/config.json");
	TEST_DONE();
}

static void test_key_and_device_rules(void)
{
	TEST_START("API keys and device names that could inject headers or lines are refused");
	ASSERT_TRUE(vpnctl_key_is_valid("u123_pro_0123456789abcdef"));
	ASSERT_TRUE(!vpnctl_key_is_valid("u1_pro_x\r\nX-Evil: 1"));
	ASSERT_TRUE(!vpnctl_key_is_valid(""));
	ASSERT_TRUE(pv_device_is_valid("laptop-2.home"));
	ASSERT_TRUE(!pv_device_is_valid("a b"));
	ASSERT_TRUE(!pv_device_is_valid(
	        "0123456789012345678901234567890123456789012345678901234567890123456789"));
	TEST_DONE();
}

static void remove_tree(const char *dir)
{
	static const char *const rel[] = {"wg/x.conf",  "wg",  "cfg/vpnctl/config.json",
	                                  "cfg/vpnctl", "cfg", ""};
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, rel[i]);
		remove(path);
	}
}

int main(void)
{
	char tmpl[] = "/tmp/test_vpnctl_conf.XXXXXX", cfg[64], sec[64];
	const char *dir = mkdtemp(tmpl);

	ASSERT_TRUE(dir != NULL);
	snprintf(sec, sizeof(sec), "%s/wg", dir);
	snprintf(cfg, sizeof(cfg), "%s/cfg", dir);
	ASSERT_INT_EQ(mkdir(sec, 0700), 0);
	test_secret_file_is_0600_and_atomic(sec);
	test_login_config_round_trip(cfg);
	test_config_dir_mode(cfg);
	test_admin_config(cfg);
	test_xdg_fallback();
	test_key_and_device_rules();
	remove_tree(dir);
	TEST_SUMMARY();
}
