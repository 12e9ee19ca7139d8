/* SPDX-License-Identifier: MIT */
/*
 * vpn-controller --init DIR: first-run setup.  Writes into DIR a config that
 * points at everything below, a fresh API secret, admin token and state key,
 * an ed25519 SSH key pair (ssh-keygen) and a self-signed TLS certificate, or
 * points at the key and certificate the operator gives instead.  Never
 * overwrites: every target is checked before anything is written, each file
 * is created with O_EXCL, and what this run created is removed on failure.
 * Every file is mode 0600 from the first instant (umask 077, open mode
 * 0600), in a 0700 directory: the service user should run it (README).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "controller.h"

#define CERT_DAYS   3650
#define MAX_CREATED 10

enum init_opt { IO_TLS_CERT, IO_TLS_KEY, IO_TLS_NAME, IO_SSH_IDENTITY, IO_N };

/* The flags of --init; --help and the man page print this table. */
static const struct {
	const char *name, *arg, *help;
} init_opts[IO_N] = {
        [IO_TLS_CERT] = {"tls-cert", "FILE",
                         "use this certificate chain instead of making a self-signed one "
                         "(needs --tls-key)"},
        [IO_TLS_KEY] = {"tls-key", "FILE", "the private key of --tls-cert"},
        [IO_TLS_NAME] = {"tls-name", "NAME",
                         "DNS name or IP address of the self-signed certificate (default: this "
                         "host's name); localhost, 127.0.0.1 and ::1 are always added"},
        [IO_SSH_IDENTITY] = {"ssh-identity", "FILE",
                             "use this SSH private key instead of making an ed25519 pair"},
};

struct init {
	char dir[PATH_MAX];
	const char *opt[IO_N];
	char created[MAX_CREATED][PATH_MAX]; /* paths this run created, removed on failure */
	size_t ncreated;
	char err[600];
};

void ctl_init_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s\n", CTL_SYNOPSIS_INIT);
	for (i = 0; i < IO_N; i++) {
		char left[32];

		snprintf(left, sizeof(left), "--%s %s", init_opts[i].name, init_opts[i].arg);
		fprintf(f, "  %-22s %s\n", left, init_opts[i].help);
	}
}

void ctl_init_man(FILE *f)
{
	size_t i;

	for (i = 0; i < IO_N; i++) {
		char tag[32];

		snprintf(tag, sizeof(tag), "--%s", init_opts[i].name);
		pv_man_item(f, tag, init_opts[i].arg, init_opts[i].help);
	}
}

static int parse_init_args(struct init *in, int argc, char **argv)
{
	const char *dir = NULL;
	int i;
	size_t j;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0) {
			if (dir) {
				ctl_errf(in->err, sizeof(in->err), "unexpected argument \"%s\"",
				         argv[i]);
				return PV_EINVAL;
			}
			dir = argv[i];
			continue;
		}
		for (j = 0; j < IO_N && strcmp(argv[i] + 2, init_opts[j].name) != 0; j++)
			;
		if (j == IO_N || i + 1 >= argc) {
			ctl_errf(in->err, sizeof(in->err), "%s: %s", argv[i],
			         j == IO_N ? "unknown option" : "needs a value");
			return PV_EINVAL;
		}
		in->opt[j] = argv[++i];
	}
	if (!dir) {
		ctl_errf(in->err, sizeof(in->err), "--init needs a directory");
		return PV_EINVAL;
	}
	if (!in->opt[IO_TLS_CERT] != !in->opt[IO_TLS_KEY]) {
		ctl_errf(in->err, sizeof(in->err), "--tls-cert and --tls-key go together");
		return PV_EINVAL;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ctl_errf(in->err, sizeof(in->err), "%s: cannot create: %s", dir, strerror(errno));
		return PV_EIO;
	}
	/* Absolute, so the config works from any working directory. */
	if (!realpath(dir, in->dir)) {
		ctl_errf(in->err, sizeof(in->err), "%s: %s", dir, strerror(errno));
		return PV_EIO;
	}
	return 0;
}

/* "DIR/name" into out; PV_EINVAL if it does not fit. */
static int in_dir(const struct init *in, const char *name, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s/%s", in->dir, name);

	return n < 0 || (size_t)n >= outlen ? PV_EINVAL : 0;
}

/* A given file (--tls-cert, ...) must exist; the config stores its absolute path. */
static int given_file(struct init *in, enum init_opt o, char *out)
{
	if (!realpath(in->opt[o], out)) {
		ctl_errf(in->err, sizeof(in->err), "--%s %s: %s", init_opts[o].name, in->opt[o],
		         strerror(errno));
		return PV_EIO;
	}
	return 0;
}

/* Refuse before writing anything when one of the files to make exists. */
static int check_absent(struct init *in, const char *const *names, size_t n)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++) {
		if (in_dir(in, names[i], path, sizeof(path)) < 0)
			return PV_EINVAL;
		if (lstat(path, &st) == 0 || errno != ENOENT) {
			ctl_errf(
			        in->err, sizeof(in->err),
			        "%s exists: --init never overwrites (move it away, or give your own "
			        "with --tls-cert/--tls-key/--ssh-identity)",
			        path);
			return PV_EEXIST;
		}
	}
	return 0;
}

static int remember(struct init *in, const char *path)
{
	if (in->ncreated == MAX_CREATED)
		return PV_EINVAL;
	snprintf(in->created[in->ncreated++], PATH_MAX, "%s", path);
	return 0;
}

/* Create DIR/name exclusively, mode 0600; the fd is the caller's. */
static int create_file(struct init *in, const char *name, int *fd)
{
	char path[PATH_MAX];
	int r;

	if (in_dir(in, name, path, sizeof(path)) < 0)
		return PV_EINVAL;
	*fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0) {
		ctl_errf(in->err, sizeof(in->err), "%s: cannot create: %s", path, strerror(errno));
		return PV_EIO;
	}
	if ((r = remember(in, path)) < 0) {
		close(*fd);
		unlink(path);
	}
	return r;
}

/* Write a whole new file DIR/name; fsync'd, so a crash leaves no half key. */
static int write_new(struct init *in, const char *name, const void *buf, size_t len)
{
	int fd, r;

	if ((r = create_file(in, name, &fd)) < 0)
		return r;
	r = pv_write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = PV_EIO;
	if (close(fd) < 0 && r == 0)
		r = PV_EIO;
	if (r < 0)
		ctl_errf(in->err, sizeof(in->err), "%s/%s: write failed: %s", in->dir, name,
		         strerror(errno));
	return r;
}

/*
 * A line of 32 random bytes in base64: the API secret, the admin token and
 * the state key (the format `wg genpsk` prints, which pv_state_key_load reads).
 */
static int write_random_line(struct init *in, const char *name)
{
	uint8_t raw[PV_KEY_LEN];
	char line[PV_KEY_B64_LEN + 2];
	int r;

	if (pv_psk_generate(raw) < 0) {
		ctl_errf(in->err, sizeof(in->err), "%s: the random generator failed", name);
		return PV_ECRYPTO;
	}
	pv_key_to_base64(line, raw);
	line[PV_KEY_B64_LEN] = '\n';
	line[PV_KEY_B64_LEN + 1] = '\0';
	r = write_new(in, name, line, PV_KEY_B64_LEN + 1);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

/*
 * ssh-keygen writes the OpenSSH private key format libssh2 reads; run with
 * an argv array (no shell), stdin from /dev/null so it can never prompt.
 * It creates the private key 0600 itself; the umask covers the rest.
 */
static int make_ssh_key(struct init *in)
{
	char path[PATH_MAX], pub[PATH_MAX];
	char *const argv[] = {"ssh-keygen", "-q", "-t", "ed25519",
	                      "-N",         "",   "-C", "privatevpn-controller",
	                      "-f",         path, NULL};
	int status;
	pid_t pid;

	if (in_dir(in, "id_ed25519", path, sizeof(path)) < 0 ||
	    in_dir(in, "id_ed25519.pub", pub, sizeof(pub)) < 0)
		return PV_EINVAL;
	fflush(NULL);
	if ((pid = fork()) < 0) {
		ctl_errf(in->err, sizeof(in->err), "fork for ssh-keygen: %s", strerror(errno));
		return PV_EIO;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull < 0 || dup2(devnull, STDIN_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "vpn-controller: cannot run ssh-keygen: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return PV_EIO;
	if (remember(in, path) < 0 || remember(in, pub) < 0)
		return PV_EINVAL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		ctl_errf(in->err, sizeof(in->err),
		         "ssh-keygen failed making %s (is openssh-client installed?)", path);
		return PV_EIO;
	}
	return 0;
}

static int add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A self-signed P-256 certificate for name (a DNS name or an IP address),
 * with the extensions `openssl req -x509` adds, so clients can pin it as
 * their CA (vpnctl --cacert).
 */
static X509 *self_signed(EVP_PKEY *key, const char *name)
{
	char san[600];
	struct in6_addr ip;
	X509 *cert = X509_new();
	X509_NAME *subj;
	int ok, is_ip;

	if (!cert)
		return NULL;
	is_ip = inet_pton(AF_INET, name, &ip) == 1 || inet_pton(AF_INET6, name, &ip) == 1;
	snprintf(san, sizeof(san), "%s:%s,DNS:localhost,IP:127.0.0.1,IP:::1", is_ip ? "IP" : "DNS",
	         name);
	subj = X509_get_subject_name(cert);
	ok = X509_set_version(cert, X509_VERSION_3) &&
	     ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert),
	                             ((uint64_t)time(NULL) << 16) | (uint64_t)getpid()) &&
	     X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * CERT_DAYS) &&
	     X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1,
	                                -1, 0) &&
	     X509_set_issuer_name(cert, subj) && X509_set_pubkey(cert, key) &&
	     add_ext(cert, NID_basic_constraints, "critical,CA:TRUE") &&
	     add_ext(cert, NID_subject_key_identifier, "hash") &&
	     add_ext(cert, NID_authority_key_identifier, "keyid:always") &&
	     add_ext(cert, NID_subject_alt_name, san) &&
	     add_ext(cert, NID_ext_key_usage, "serverAuth") && X509_sign(cert, key, EVP_sha256());
	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* Write a PEM object through a BIO on a new file (the key never sits in a memory BIO). */
static int write_pem(struct init *in, const char *name, EVP_PKEY *key, X509 *cert)
{
	BIO *bio;
	int fd, r, ok;

	if ((r = create_file(in, name, &fd)) < 0)
		return r;
	bio = BIO_new_fd(fd, BIO_CLOSE);
	if (!bio) {
		close(fd);
		return PV_ENOMEM;
	}
	ok = key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
	         : PEM_write_bio_X509(bio, cert);
	ok = ok && BIO_flush(bio) == 1 && fsync(fd) == 0;
	BIO_free(bio);
	if (!ok) {
		ctl_errf(in->err, sizeof(in->err), "%s/%s: writing the PEM failed", in->dir, name);
		return PV_EIO;
	}
	return 0;
}

static int make_tls(struct init *in)
{
	char host[256];
	const char *name = in->opt[IO_TLS_NAME];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int r = PV_ECRYPTO;

	if (!name) {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		name = host;
	}
	key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!key || !(cert = self_signed(key, name))) {
		ctl_errf(in->err, sizeof(in->err), "TLS certificate for \"%s\": OpenSSL failed",
		         name);
		goto out;
	}
	if ((r = write_pem(in, "tls.key", key, NULL)) < 0 ||
	    (r = write_pem(in, "tls.pem", NULL, cert)) < 0)
		goto out;
	r = 0;
out:
	X509_free(cert);
	EVP_PKEY_free(key);
	return r;
}

/* Written last, so a config on disk means everything it names was made. */
static int write_config(struct init *in, const char *cert, const char *key, const char *ssh)
{
	static const char *const names[] = {"servers.json", "known_hosts", "secrets", "admin_token",
	                                    "state.key"};
	char p[5][PATH_MAX];
	json_t *cfg;
	char *text = NULL;
	size_t i;
	int r = PV_ENOMEM;

	for (i = 0; i < 5; i++)
		if (in_dir(in, names[i], p[i], sizeof(p[i])) < 0)
			return PV_EINVAL;
	cfg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "https_listen",
	                "0.0.0.0:8443", "http_listen", "127.0.0.1:8080", "tls_cert", cert,
	                "tls_key", key, "db_path", CTL_STATE_DIR "/state.db", "fleet_path", p[0],
	                "ssh_identity", ssh, "known_hosts", p[1], "secrets_file", p[2],
	                "admin_token_file", p[3], "state_key_file", p[4]);
	if (cfg)
		text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text) {
		size_t n = strlen(text);
		char *line = realloc(text, n + 2); /* a text file ends in a newline */

		if (line) {
			text = line;
			memcpy(text + n, "\n", 2);
			r = write_new(in, "controller.json", text, n + 1);
		}
	}
	free(text);
	json_decref(cfg);
	return r;
}

/* The controller must accept what --init wrote: load it back through config.c. */
static int check_config(struct init *in)
{
	struct ctl_config *cfg = ctl_config_new();
	char path[PATH_MAX];
	int r = PV_ENOMEM;

	if (!cfg || (r = in_dir(in, "controller.json", path, sizeof(path))) < 0)
		goto out;
	if ((r = ctl_config_load(cfg, path, in->err, sizeof(in->err))) < 0 ||
	    (r = ctl_config_check(cfg, in->err, sizeof(in->err))) < 0)
		goto out;
	r = 0;
out:
	ctl_config_free(cfg);
	return r;
}

/* Absolute paths of the TLS pair and SSH key: given ones, else DIR's new ones. */
static int key_paths(struct init *in, char *cert, char *key, char *ssh)
{
	int r;

	if (in->opt[IO_TLS_CERT]) {
		if ((r = given_file(in, IO_TLS_CERT, cert)) < 0 ||
		    (r = given_file(in, IO_TLS_KEY, key)) < 0)
			return r;
	} else if ((r = in_dir(in, "tls.pem", cert, PATH_MAX)) < 0 ||
	           (r = in_dir(in, "tls.key", key, PATH_MAX)) < 0) {
		return r;
	}
	if (in->opt[IO_SSH_IDENTITY])
		return given_file(in, IO_SSH_IDENTITY, ssh);
	return in_dir(in, "id_ed25519", ssh, PATH_MAX);
}

static int run_init(struct init *in)
{
	const char *targets[8] = {"controller.json", "secrets", "admin_token", "state.key"};
	char cert[PATH_MAX], key[PATH_MAX], ssh[PATH_MAX];
	size_t n = 4;
	int r;

	if (!in->opt[IO_TLS_CERT]) {
		targets[n++] = "tls.pem";
		targets[n++] = "tls.key";
	}
	if (!in->opt[IO_SSH_IDENTITY]) {
		targets[n++] = "id_ed25519";
		targets[n++] = "id_ed25519.pub";
	}
	if ((r = key_paths(in, cert, key, ssh)) < 0 || (r = check_absent(in, targets, n)) < 0)
		return r;
	if ((r = write_random_line(in, "secrets")) < 0 ||
	    (r = write_random_line(in, "admin_token")) < 0 ||
	    (r = write_random_line(in, "state.key")) < 0)
		return r;
	if (!in->opt[IO_TLS_CERT] && (r = make_tls(in)) < 0)
		return r;
	if (!in->opt[IO_SSH_IDENTITY] && (r = make_ssh_key(in)) < 0)
		return r;
	if ((r = write_config(in, cert, key, ssh)) < 0)
		return r;
	return check_config(in);
}

static void print_next_steps(const struct init *in)
{
	size_t i;

	printf("vpn-controller: initialised %s:\n", in->dir);
	for (i = 0; i < in->ncreated; i++)
		printf("  %s\n", in->created[i]);
	printf("Next:\n"
	       "  1. put your servers in %s/servers.json (docs: servers-json.md)\n"
	       "  2. put each server's ed25519 host key in %s/known_hosts\n"
	       "     (ssh-keyscan -t ed25519 HOST, checked against the server's console)\n"
	       "  3. authorise %s/id_ed25519.pub for root on every server\n"
	       "  4. systemctl enable --now vpn-controller\n",
	       in->dir, in->dir, in->opt[IO_SSH_IDENTITY] ? "your SSH key's" : in->dir);
}

int ctl_init_main(int argc, char **argv)
{
	struct init in;
	size_t i;
	int r;

	memset(&in, 0, sizeof(in));
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		ctl_init_usage(stdout);
		return 0;
	}
	umask(077);
	r = parse_init_args(&in, argc, argv);
	if (r == 0)
		r = run_init(&in);
	if (r < 0) {
		fprintf(stderr, "vpn-controller --init: %s\n", in.err[0] ? in.err : pv_strerror(r));
		for (i = in.ncreated; i-- > 0;)
			unlink(in.created[i]);
	} else {
		print_next_steps(&in);
	}
	return r < 0 ? 1 : 0;
}
