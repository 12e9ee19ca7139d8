/* SPDX-License-Identifier: MIT */
/*
 * vpn-controller: flags and config, startup (every error names the file and
 * the field), the event loop, a reload of secrets, admin token and TLS
 * certificate on SIGHUP, and a graceful shutdown on SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>

#include "agentless.h"
#include "controller.h"
#include "db.h"

static void usage(void)
{
	fprintf(stderr,
	        "usage: %s\n       %s\n       vpn-controller --man\n"
	        "Every config field can be given (or overridden) as a flag:\n",
	        CTL_SYNOPSIS, CTL_SYNOPSIS_INIT);
	ctl_config_usage();
}

/* "--db-path VALUE" -> field "db_path"; the config file first, flags after. */
static int parse_args(struct ctl_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	int i, r;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (++i >= argc)
				goto missing;
			if ((r = ctl_config_load(cfg, argv[i], err, errlen)) < 0)
				return r;
		}
	}
	for (i = 1; i < argc; i++) {
		char name[40];
		size_t j;

		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0 || strlen(argv[i]) >= sizeof(name) + 2) {
			ctl_errf(err, errlen, "unexpected argument \"%s\"", argv[i]);
			return PV_EINVAL;
		}
		snprintf(name, sizeof(name), "%s", argv[i] + 2);
		for (j = 0; name[j]; j++)
			if (name[j] == '-')
				name[j] = '_';
		if (i + 1 >= argc)
			goto missing;
		if ((r = ctl_config_set(cfg, name, argv[++i], err, errlen)) < 0)
			return r;
	}
	return ctl_config_check(cfg, err, errlen);
missing:
	ctl_errf(err, errlen, "option %s needs a value", argv[argc - 1]);
	return PV_EINVAL;
}

/* A handle on the state DB (db_path or db_url); errors name it without a password. */
static int ctl_db_open(struct ctl *ctl, struct db **db, char *err, size_t errlen)
{
	const struct ctl_config *cfg = ctl->cfg;
	int pg = cfg->db_url && *cfg->db_url;
	const char *target = pg ? cfg->db_url : cfg->db_path;
	int r;

	db_describe(target, ctl->db_name, sizeof(ctl->db_name));
	if ((r = db_open(db, target)) < 0) {
		ctl_errf(err, errlen, "%s %s: %s", pg ? "db_url" : "db_path", ctl->db_name,
		         *db ? db_errmsg(*db) : pv_strerror(r));
		return r;
	}
	return 0;
}

static int open_state(struct ctl *ctl, char *err, size_t errlen)
{
	const struct ctl_config *cfg = ctl->cfg;
	struct agentless_config ac = {
	        .identity = cfg->ssh_identity,
	        .known_hosts = cfg->known_hosts,
	        .op_timeout_ms = (int)cfg->push_timeout_ms,
	        .connect_timeout_ms = (int)cfg->connect_timeout_ms,
	};
	uint8_t key[PV_KEY_LEN];
	int r;

	if ((r = ctl_secrets_load(&ctl->secrets, cfg->secrets_file, err, errlen)) < 0 ||
	    (r = ctl_admin_token_load(&ctl->admin_token, cfg->admin_token_file, err, errlen)) < 0)
		return r;
	if (!(ctl->stale = calloc(CTL_STALE_MAX, sizeof(*ctl->stale)))) {
		ctl_errf(err, errlen, "out of memory");
		return PV_ENOMEM;
	}
	if ((r = ctl_db_open(ctl, &ctl->db, err, errlen)) < 0)
		return r;
	if (cfg->db_url && *cfg->db_url && (r = ctl_db_open(ctl, &ctl->leader_db, err, errlen)) < 0)
		return r;
	if ((r = pv_state_key_load(key, cfg->state_key_file, err, errlen)) < 0)
		return r;
	db_set_seal_key(ctl->db, key);
	OPENSSL_cleanse(key, sizeof(key));
	if ((r = ctl_metrics_new(ctl)) < 0) {
		ctl_errf(err, errlen, "metrics: %s", pv_strerror(r));
		return r;
	}
	if ((r = ctl_fleet_open(ctl, err, errlen)) < 0)
		return r;
	ac.round_trip = ctl_metrics_round_trip;
	ac.round_trip_arg = ctl->metrics;
	if ((r = agentless_new(&ctl->pool, ctl->fleet, &ac)) < 0) {
		ctl_errf(err, errlen,
		         "ssh_identity %s / known_hosts %s: cannot start the SSH pool: %s",
		         cfg->ssh_identity, cfg->known_hosts, pv_strerror(r));
		return r;
	}
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ctl *ctl = arg;

	(void)what;
	ctl_log("signal %d: shutting down", (int)sig);
	event_base_loopexit(ctl->base, NULL);
}

/* Replace the admin token from its file; the old one stays on failure. */
static int reload_admin_token(struct ctl *ctl, char *err, size_t errlen)
{
	char *token = NULL;
	int r = ctl_admin_token_load(&token, ctl->cfg->admin_token_file, err, errlen);

	if (r < 0)
		return r;
	OPENSSL_clear_free(ctl->admin_token, strlen(ctl->admin_token) + 1);
	ctl->admin_token = token;
	return 0;
}

/* Replace the API secrets from their file; the old ones stay on failure. */
static int reload_secrets(struct ctl *ctl, char *err, size_t errlen)
{
	struct ctl_secrets s;
	int r = ctl_secrets_load(&s, ctl->cfg->secrets_file, err, errlen);

	if (r < 0)
		return r;
	ctl_secrets_clear(&ctl->secrets);
	ctl->secrets = s;
	return 0;
}

/*
 * SIGHUP: reload the secrets, the admin token and the TLS certificate, each
 * on its own (one bad file keeps its old value, the others still change).
 * Runs on the loop thread between requests; no connection is dropped.
 */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	static const struct {
		const char *what;
		int (*load)(struct ctl *ctl, char *err, size_t errlen);
	} parts[] = {
	        {"secrets_file", reload_secrets},
	        {"admin_token_file", reload_admin_token},
	        {"tls_cert", ctl_tls_reload},
	};
	struct ctl *ctl = arg;
	char err[512];
	size_t i, failed = 0;

	(void)sig;
	(void)what;
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		err[0] = '\0';
		if (parts[i].load(ctl, err, sizeof(err)) < 0) {
			ctl_log("reload: %s kept: %s", parts[i].what, err);
			failed++;
		}
	}
	ctl_log("reload: done on SIGHUP, %zu of %zu parts kept their old value", failed, i);
}

static void ctl_teardown(struct ctl *ctl, struct event **sigs, size_t nsigs)
{
	size_t i;

	/* Queued edits fail now; run their callbacks so leases are rolled back. */
	agentless_free(ctl->pool);
	ctl->pool = NULL;
	if (ctl->base)
		event_base_loop(ctl->base, EVLOOP_NONBLOCK);
	ctl_group_free(ctl);
	ctl_users_free(ctl);
	ctl_servers_view_free(ctl);
	for (i = 0; i < nsigs; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (ctl->health_timer)
		event_free(ctl->health_timer);
	ctl_http_stop(ctl);
	ctl_metrics_free(ctl);
	db_close(ctl->db);
	db_close(ctl->leader_db);
	pv_fleet_free(ctl->fleet);
	free(ctl->fleet_gone);
	free(ctl->stale);
	free(ctl->ifaces_health);
	ctl_secrets_clear(&ctl->secrets);
	if (ctl->admin_token)
		OPENSSL_clear_free(ctl->admin_token, strlen(ctl->admin_token) + 1);
	if (ctl->base)
		event_base_free(ctl->base);
	ctl_config_free(ctl->cfg);
}

int main(int argc, char **argv)
{
	struct ctl ctl = {0};
	struct event *sigs[3] = {NULL, NULL, NULL};
	char err[512] = "";
	int r = 1;

	if (argc > 1 && strcmp(argv[1], "--init") == 0)
		return ctl_init_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "--man") == 0)
		return ctl_man_main();
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage();
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	ctl_json_secure_alloc();
	ctl.cfg = ctl_config_new();
	if (!ctl.cfg || evthread_use_pthreads() < 0) {
		fprintf(stderr, "vpn-controller: out of memory\n");
		goto out;
	}
	if (parse_args(ctl.cfg, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "vpn-controller: %s (see --help)\n", err);
		goto out;
	}
	ctl.base = event_base_new();
	if (!ctl.base || open_state(&ctl, err, sizeof(err)) < 0 ||
	    ctl_http_start(&ctl, err, sizeof(err)) < 0) {
		fprintf(stderr, "vpn-controller: %s\n", err[0] ? err : "event base setup failed");
		goto out;
	}
	sigs[0] = evsignal_new(ctl.base, SIGINT, on_signal, &ctl);
	sigs[1] = evsignal_new(ctl.base, SIGTERM, on_signal, &ctl);
	sigs[2] = evsignal_new(ctl.base, SIGHUP, on_reload, &ctl);
	if (!sigs[0] || !sigs[1] || !sigs[2] || event_add(sigs[0], NULL) < 0 ||
	    event_add(sigs[1], NULL) < 0 || event_add(sigs[2], NULL) < 0 ||
	    ctl_health_start(&ctl) < 0) {
		fprintf(stderr, "vpn-controller: event setup failed\n");
		goto out;
	}
	ctl_log("vpn-controller %s: %zu servers, startup health pass running", PV_VERSION,
	        ctl.fleet->n);
	event_base_dispatch(ctl.base);
	r = 0;
out:
	ctl_teardown(&ctl, sigs, 3);
	return r;
}
