/* SPDX-License-Identifier: MIT */
/* vpn-controller --init: the files it makes, their modes, and that it never overwrites. */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "controller.h"
#include "test.h"

static char base[64];
static char err[512];

static int init(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4)
{
	char *argv[] = {"--init",   (char *)dir, (char *)a1, (char *)a2,
	                (char *)a3, (char *)a4,  NULL};
	int argc = 2;

	while (argv[argc])
		argc++;
	return ctl_init_main(argc, argv);
}

static const char *in(const char *dir, const char *name)
{
	static char path[4][256];
	static int slot;

	slot = (slot + 1) % 4;
	snprintf(path[slot], sizeof(path[slot]), "%s/%s", dir, name);
	return path[slot];
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ASSERT_TRUE(d != NULL);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int mode_of(const char *path)
{
	struct stat st;

	ASSERT_INT_EQ(stat(path, &st), 0);
	return (int)(st.st_mode & 07777);
}

static char *slurp(const char *path)
{
	char *buf;

	ASSERT_INT_EQ(pv_file_read(&buf, NULL, path, 1 << 16, 0), 0);
	return buf;
}

static void test_fresh(const char *dir)
{
	static const char *const files[] = {"controller.json", "secrets",       "admin_token",
	                                    "state.key",       "tls.pem",       "tls.key",
	                                    "id_ed25519",      "id_ed25519.pub"};
	struct ctl_config *cfg = ctl_config_new();
	struct ctl_secrets sec = {0};
	char *token = NULL, *key;
	uint8_t raw[PV_KEY_LEN];
	FILE *f;
	X509 *cert;
	EVP_PKEY *pkey;
	size_t i;

	TEST_START("--init into a new directory makes 8 files, all 0600, in a 0700 directory");
	ASSERT_INT_EQ(init(dir, "--tls-name", "vpn.example.org", NULL, NULL), 0);
	ASSERT_INT_EQ(mode_of(dir), 0700);
	ASSERT_INT_EQ(count_files(dir), 8);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		ASSERT_INT_EQ(mode_of(in(dir, files[i])), 0600);
	TEST_DONE();

	TEST_START("the config passes the controller's check and names the files in DIR");
	ASSERT_INT_EQ(ctl_config_load(cfg, in(dir, "controller.json"), err, sizeof(err)), 0);
	ASSERT_INT_EQ(ctl_config_check(cfg, err, sizeof(err)), 0);
	ASSERT_STR_EQ(cfg->secrets_file, in(dir, "secrets"));
	ASSERT_STR_EQ(cfg->state_key_file, in(dir, "state.key"));
	ASSERT_STR_EQ(cfg->tls_key, in(dir, "tls.key"));
	ASSERT_STR_EQ(cfg->fleet_path, in(dir, "servers.json"));
	ASSERT_STR_EQ(cfg->db_path, CTL_STATE_DIR "/state.db");
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START(
	        "secrets and admin token load as the controller loads them; state key is 32 bytes");
	ASSERT_INT_EQ(ctl_secrets_load(&sec, in(dir, "secrets"), err, sizeof(err)), 0);
	ASSERT_INT_EQ((int)strlen(sec.current), PV_KEY_B64_LEN);
	ASSERT_TRUE(sec.previous == NULL);
	ctl_secrets_clear(&sec);
	ASSERT_INT_EQ(ctl_admin_token_load(&token, in(dir, "admin_token"), err, sizeof(err)), 0);
	free(token);
	ASSERT_INT_EQ(pv_state_key_load(raw, in(dir, "state.key"), err, sizeof(err)), 0);
	TEST_DONE();

	TEST_START(
	        "the certificate is for the given name and matches its key; the SSH key is OpenSSH's");
	f = fopen(in(dir, "tls.pem"), "r");
	ASSERT_TRUE(f != NULL);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	f = fopen(in(dir, "tls.key"), "r");
	ASSERT_TRUE(f != NULL);
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ASSERT_TRUE(cert != NULL && pkey != NULL);
	ASSERT_INT_EQ(X509_check_private_key(cert, pkey), 1);
	ASSERT_INT_EQ(X509_check_host(cert, "vpn.example.org", 0, 0, NULL), 1);
	ASSERT_INT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	X509_free(cert);
	EVP_PKEY_free(pkey);
	key = slurp(in(dir, "id_ed25519"));
	ASSERT_STR_CONTAINS(key, "-----BEGIN OPENSSH PRIVATE KEY-----");
	OPENSSL_clear_free(key, strlen(key));
	key = slurp(in(dir, "id_ed25519.pub"));
	ASSERT_STR_CONTAINS(key, "ssh-ed25519 ");
	free(key);
	TEST_DONE();
}

static void test_never_overwrites(const char *dir, const char *other)
{
	char *before, *after;
	FILE *f;

	TEST_START("a second --init refuses and leaves every file as it was");
	before = slurp(in(dir, "secrets"));
	ASSERT_INT_EQ(init(dir, NULL, NULL, NULL, NULL), 1);
	after = slurp(in(dir, "secrets"));
	ASSERT_STR_EQ(before, after);
	ASSERT_INT_EQ(count_files(dir), 8);
	free(before);
	free(after);
	TEST_DONE();

	TEST_START("one existing target (state.key) and nothing at all is written");
	ASSERT_INT_EQ(mkdir(other, 0700), 0);
	f = fopen(in(other, "state.key"), "w");
	ASSERT_TRUE(f != NULL);
	fputs("mine", f);
	fclose(f);
	ASSERT_INT_EQ(init(other, NULL, NULL, NULL, NULL), 1);
	ASSERT_INT_EQ(count_files(other), 1);
	before = slurp(in(other, "state.key"));
	ASSERT_STR_EQ(before, "mine");
	free(before);
	ASSERT_INT_EQ(unlink(in(other, "state.key")), 0);
	TEST_DONE();
}

static void test_given(const char *made, const char *dir)
{
	struct ctl_config *cfg = ctl_config_new();
	const char *env = getenv("PATH");
	char *s1, *s2, *path = strdup(env ? env : "/usr/bin:/bin");

	TEST_START(
	        "--tls-cert without --tls-key, or a given file that does not exist: nothing written");
	ASSERT_INT_EQ(init(dir, "--tls-cert", in(made, "tls.pem"), NULL, NULL), 1);
	ASSERT_INT_EQ(init(dir, "--ssh-identity", in(made, "nope"), NULL, NULL), 1);
	ASSERT_INT_EQ(count_files(dir), 0);
	TEST_DONE();

	TEST_START("given TLS and SSH files are named in the config and not made again");
	ASSERT_INT_EQ(
	        init(dir, "--tls-cert", in(made, "tls.pem"), "--tls-key", in(made, "tls.key")), 0);
	ASSERT_INT_EQ(count_files(dir), 6); /* config, 3 secrets, ed25519 pair */
	ASSERT_INT_EQ(ctl_config_load(cfg, in(dir, "controller.json"), err, sizeof(err)), 0);
	ASSERT_STR_EQ(cfg->tls_cert, in(made, "tls.pem"));
	ASSERT_STR_EQ(cfg->tls_key, in(made, "tls.key"));
	ctl_config_free(cfg);
	TEST_DONE();

	TEST_START("ssh-keygen missing: what --init made before it is removed again");
	ASSERT_INT_EQ(mkdir(in(dir, "sub"), 0700), 0);
	ASSERT_INT_EQ(setenv("PATH", "/nonexistent", 1), 0);
	ASSERT_INT_EQ(init(in(dir, "sub"), NULL, NULL, NULL, NULL), 1);
	ASSERT_TRUE(path != NULL);
	ASSERT_INT_EQ(setenv("PATH", path, 1), 0);
	free(path);
	ASSERT_INT_EQ(count_files(in(dir, "sub")), 0);
	TEST_DONE();

	TEST_START("each --init draws fresh secrets");
	s1 = slurp(in(made, "secrets"));
	s2 = slurp(in(dir, "secrets"));
	ASSERT_TRUE(strcmp(s1, s2) != 0);
	free(s1);
	free(s2);
	TEST_DONE();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	char made[128], other[128], given[128];

	snprintf(base, sizeof(base), "/tmp/test_ctl_init.XXXXXX");
	ASSERT_TRUE(mkdtemp(base) != NULL);
	snprintf(made, sizeof(made), "%s/etc", base);
	snprintf(other, sizeof(other), "%s/other", base);
	snprintf(given, sizeof(given), "%s/given", base);
	test_fresh(made);
	test_never_overwrites(made, other);
	test_given(made, given);
	nftw(base, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	TEST_SUMMARY();
}
