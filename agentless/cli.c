/* SPDX-License-Identifier: MIT */
/*
 * agentless-cli: push peer edits to the fleet over the agentless pool, for
 * ops, tests and benchmarks.  Reads the fleet file, the controller's SSH
 * identity and its known_hosts; prints one line per edit naming the server.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "agentless.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_SETUP = 3 };

struct opts {
	const char *fleet, *identity, *known_hosts, *server, *name, *pubkey, *psk_file;
	const char *iface; /* --interface: add and remove; NULL = the server's first (wg0) */
	unsigned host;
	int json, sequential;
	struct agentless_config cfg;
};

struct ctx {
	struct opts o;
	struct pv_fleet *fleet;
	struct agentless *pool;
};

struct command {
	const char *name;
	int (*run)(struct ctx *c);
	const char *usage;
};

static int cmd_add(struct ctx *c);
static int cmd_remove(struct ctx *c);
static int cmd_dump(struct ctx *c);
static int cmd_ping(struct ctx *c);
static int cmd_batch(struct ctx *c);

static const struct command commands[] = {
        {"add", cmd_add,
         "--server ID --name N --pubkey KEY --host H [--interface wgK] [--psk-file F]"},
        {"remove", cmd_remove, "--server ID --name N --pubkey KEY [--interface wgK]"},
        {"dump", cmd_dump, "--server ID [--json]"},
        {"ping", cmd_ping, "--server ID            run `true` on the session"},
        {"batch", cmd_batch,
         "--server ID|all [--sequential] < lines \"add NAME KEY HOST\" / \"remove NAME KEY\""},
};

/* --help and the man page print these, so the two cannot drift. */
static const char synopsis[] =
        "agentless-cli --fleet FILE --identity KEY --known-hosts FILE\n"
        "              [--timeout-ms MS] [--connect-timeout-ms MS] [--no-batching]\n"
        "              COMMAND ...";
static const char output_doc[] =
        "An add without --psk-file gets a fresh random PSK.  --host H is the host number\n"
        "2..254 on --interface (one the fleet file lists for the server; default wg0):\n"
        "the peer gets .H of that interface's subnets.  batch lines edit wg0.\n"
        "Each edit prints \"SERVER NAME ok changed|unchanged [retried] MS\" or\n"
        "\"SERVER NAME error MS CODE: DETAIL\".";
static const char exit_doc[] =
        "exit: 0 all done, 1 an edit or read failed on a server, 2 usage or invalid\n"
        "input (nothing was sent), 3 fleet, identity or known_hosts unusable.";

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s\n\ncommands:\n", synopsis);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-7s %s\n", commands[i].name, commands[i].usage);
	fprintf(f, "\n%s\n%s\n", output_doc, exit_doc);
}

/* `agentless-cli --man`: the agentless-cli(1) page in roff. */
static void print_man(FILE *f)
{
	size_t i;

	pv_man_begin(f, "agentless-cli",
	             "push WireGuard peer edits to privatevpn servers over SSH");
	pv_man_section(f, "SYNOPSIS");
	pv_man_verbatim(f, synopsis);
	pv_man_section(f, "DESCRIPTION");
	pv_man_text(f, "agentless-cli drives the controller's pooled libssh2 sessions by hand, "
	               "for operations, tests and benchmarks: it reads the fleet file, the "
	               "controller's SSH identity and its known_hosts, and prints one line per "
	               "edit naming the server.");
	pv_man_text(f, output_doc);
	pv_man_section(f, "COMMANDS");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		pv_man_item(f, commands[i].name, NULL, commands[i].usage);
	pv_man_section(f, "EXIT STATUS");
	pv_man_text(f, exit_doc);
	pv_man_section(f, "SEE ALSO");
	pv_man_text(f, "vpn-controller(1); docs/agentless.md in the source.");
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"fleet", required_argument, NULL, 'f'},
	        {"identity", required_argument, NULL, 'i'},
	        {"known-hosts", required_argument, NULL, 'k'},
	        {"timeout-ms", required_argument, NULL, 't'},
	        {"connect-timeout-ms", required_argument, NULL, 'c'},
	        {"no-batching", no_argument, NULL, 'B'},
	        {"server", required_argument, NULL, 's'},
	        {"name", required_argument, NULL, 'n'},
	        {"pubkey", required_argument, NULL, 'p'},
	        {"host", required_argument, NULL, 'H'},
	        {"interface", required_argument, NULL, 'I'},
	        {"psk-file", required_argument, NULL, 'P'},
	        {"json", no_argument, NULL, 'j'},
	        {"sequential", no_argument, NULL, 'S'},
	        {"help", no_argument, NULL, 'h'},
	        {"man", no_argument, NULL, 'M'},
	        {NULL, 0, NULL, 0},
	};
	unsigned v;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->fleet = optarg;
			break;
		case 'i':
			o->identity = optarg;
			break;
		case 'k':
			o->known_hosts = optarg;
			break;
		case 's':
			o->server = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'p':
			o->pubkey = optarg;
			break;
		case 'P':
			o->psk_file = optarg;
			break;
		case 'I':
			o->iface = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'S':
			o->sequential = 1;
			break;
		case 'B':
			o->cfg.no_batching = 1;
			break;
		case 'H':
			if (parse_uint(optarg, 254, &o->host) < 0 || o->host < 2) {
				fprintf(stderr, "agentless-cli: --host: %s is not in 2..254\n",
				        optarg);
				return -1;
			}
			break;
		case 't':
		case 'c':
			if (parse_uint(optarg, 3600000, &v) < 0 || v == 0) {
				fprintf(stderr, "agentless-cli: --%s: bad milliseconds\n",
				        ch == 't' ? "timeout-ms" : "connect-timeout-ms");
				return -1;
			}
			*(ch == 't' ? &o->cfg.op_timeout_ms : &o->cfg.connect_timeout_ms) = (int)v;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'M':
			print_man(stdout);
			exit(EXIT_OK);
		default:
			return -1;
		}
	}
	return 0;
}

/* Build an edit from command-line strings, refusing bad input before any I/O. */
static int make_edit(struct agentless_edit *e, enum agentless_op op, const char *name,
                     const char *pubkey, unsigned host, const char *psk_file)
{
	char *psk = NULL;
	int r;

	memset(e, 0, sizeof(*e));
	e->op = op;
	e->host = host;
	if (!name || !pv_peer_name_is_valid(name)) {
		fprintf(stderr, "agentless-cli: name: must match [A-Za-z0-9_-]{1,15}\n");
		return -1;
	}
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (!pubkey || !pv_key_is_valid_base64(pubkey)) {
		fprintf(stderr,
		        "agentless-cli: %s: public key: not a canonical 44-character "
		        "WireGuard key\n",
		        name);
		return -1;
	}
	memcpy(e->pubkey, pubkey, sizeof(e->pubkey));
	if (op == AGENTLESS_REMOVE)
		return 0;
	if (host < 2 || host > 254) {
		fprintf(stderr, "agentless-cli: %s: host: needs 2..254\n", name);
		return -1;
	}
	if (!psk_file)
		return pv_psk_generate(e->psk) < 0 ? -1 : 0;
	r = pv_file_read(&psk, NULL, psk_file, 256, 1);
	if (r == 0) {
		psk[strcspn(psk, "\n")] = '\0';
		r = pv_key_from_base64(e->psk, psk);
		OPENSSL_clear_free(psk, strlen(psk));
	}
	if (r < 0)
		fprintf(stderr,
		        "agentless-cli: %s: PSK file must be mode 0600 and hold one key "
		        "(%s)\n",
		        psk_file, pv_strerror(r));
	return r < 0 ? -1 : 0;
}

/* ---- async result collection (callbacks run on worker threads) ---------- */

struct tracker {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending, failed;
};

struct pending_edit {
	struct tracker *t;
	const char *server;
	char name[16];
	uint64_t start_us;
};

static struct tracker tracker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void edit_done(const struct agentless_result *res, void *arg)
{
	struct pending_edit *p = arg;
	double ms = (double)(pv_now_us() - p->start_us) / 1000.0;

	pthread_mutex_lock(&p->t->mu);
	if (res->err)
		printf("%s %s error %.3f %s: %s\n", p->server, p->name, ms, pv_strerror(res->err),
		       res->detail);
	else
		printf("%s %s ok %s%s %.3f\n", p->server, p->name,
		       res->changed ? "changed" : "unchanged", res->retried ? " retried" : "", ms);
	fflush(stdout);
	if (res->err)
		p->t->failed++;
	p->t->pending--;
	pthread_cond_signal(&p->t->cv);
	pthread_mutex_unlock(&p->t->mu);
	free(p);
}

static void tracker_wait(struct tracker *t, size_t below)
{
	pthread_mutex_lock(&t->mu);
	while (t->pending > below)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

static int submit(struct ctx *c, const char *server, const struct agentless_edit *e)
{
	struct pending_edit *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return PV_ENOMEM;
	p->t = &tracker;
	p->server = server;
	memcpy(p->name, e->name, sizeof(p->name));
	p->start_us = pv_now_us();
	pthread_mutex_lock(&tracker.mu);
	tracker.pending++;
	pthread_mutex_unlock(&tracker.mu);
	if ((r = agentless_submit(c->pool, server, e, edit_done, p)) < 0) {
		pthread_mutex_lock(&tracker.mu);
		tracker.pending--;
		pthread_mutex_unlock(&tracker.mu);
		fprintf(stderr, "agentless-cli: %s: %s: %s\n", server, e->name, pv_strerror(r));
		free(p);
	}
	return r;
}

static int finish(void)
{
	tracker_wait(&tracker, 0);
	return tracker.failed ? EXIT_FAILED : EXIT_OK;
}

static int need_server(const struct ctx *c)
{
	if (!c->o.server) {
		fprintf(stderr, "agentless-cli: --server is required\n");
		return -1;
	}
	return 0;
}

/* The index of --interface among the server's interfaces (0 without it); -1 and a message. */
static int iface_index(const struct ctx *c)
{
	const struct pv_server *srv = pv_fleet_find(c->fleet, c->o.server);
	size_t k;

	if (!srv) {
		fprintf(stderr, "agentless-cli: unknown server %s\n", c->o.server);
		return -1;
	}
	if (!c->o.iface)
		return 0;
	for (k = 0; k < srv->n_ifaces; k++)
		if (strcmp(srv->ifaces[k].name, c->o.iface) == 0)
			return (int)k;
	fprintf(stderr,
	        "agentless-cli: --interface %s: server %s has no such interface (%s:", c->o.iface,
	        c->o.server, c->o.fleet);
	for (k = 0; k < srv->n_ifaces; k++)
		fprintf(stderr, " %s", srv->ifaces[k].name);
	fprintf(stderr, ")\n");
	return -1;
}

static int one_edit(struct ctx *c, enum agentless_op op)
{
	struct agentless_edit e;
	int k, r;

	if (need_server(c) < 0 || (k = iface_index(c)) < 0 ||
	    make_edit(&e, op, c->o.name, c->o.pubkey, c->o.host, c->o.psk_file) < 0)
		return EXIT_USAGE;
	e.host = pv_lease((unsigned)k, e.host); /* a remove's 0: only the interface matters */
	r = submit(c, c->o.server, &e);
	OPENSSL_cleanse(&e, sizeof(e));
	if (r < 0)
		return r == PV_ENOTFOUND || r == PV_EINVAL ? EXIT_USAGE : EXIT_FAILED;
	return finish();
}

static int cmd_add(struct ctx *c)
{
	return one_edit(c, AGENTLESS_ADD);
}

static int cmd_remove(struct ctx *c)
{
	return one_edit(c, AGENTLESS_REMOVE);
}

static json_t *blocks_json(const struct agentless_dump *d)
{
	json_t *blocks = json_array();
	size_t i;

	for (i = 0; blocks && i < d->nblocks; i++)
		json_array_append_new(blocks,
		                      json_pack("{s:s, s:s, s:s}", "name", d->blocks[i].name,
		                                "public_key", d->blocks[i].pubkey, "allowed_ips",
		                                d->blocks[i].allowed_ips));
	return blocks;
}

static void print_dump_json(const struct agentless_dump *d)
{
	json_t *root = json_object(), *peers = json_array();
	char *text;
	size_t i;

	json_object_set_new(root, "public_key", json_string(d->live->pubkey));
	json_object_set_new(root, "listen_port", json_integer(d->live->listen_port));
	for (i = 0; i < d->live->n; i++) {
		const struct pv_wg_peer *p = &d->live->peers[i];

		json_array_append_new(
		        peers,
		        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "public_key", p->pubkey,
		                  "endpoint", p->endpoint, "allowed_ips", p->allowed_ips,
		                  "latest_handshake", (json_int_t)p->latest_handshake, "rx_bytes",
		                  (json_int_t)p->rx_bytes, "tx_bytes", (json_int_t)p->tx_bytes));
	}
	json_object_set_new(root, "peers", peers);
	json_object_set_new(root, "conf_peers", blocks_json(d));
	text = json_dumps(root, JSON_INDENT(2));
	if (text)
		puts(text);
	free(text);
	json_decref(root);
}

static void print_dump_text(const struct agentless_dump *d)
{
	const struct pv_wg_dump *w = d->live;
	size_t i;

	printf("interface %s %u\n", w->pubkey, w->listen_port);
	for (i = 0; i < w->n; i++)
		printf("peer %s %s %s %lld %llu %llu\n", w->peers[i].pubkey, w->peers[i].endpoint,
		       w->peers[i].allowed_ips, (long long)w->peers[i].latest_handshake,
		       (unsigned long long)w->peers[i].rx_bytes,
		       (unsigned long long)w->peers[i].tx_bytes);
	for (i = 0; i < d->nblocks; i++)
		printf("conf %s %s %s\n", d->blocks[i].name[0] ? d->blocks[i].name : "-",
		       d->blocks[i].pubkey[0] ? d->blocks[i].pubkey : "-",
		       d->blocks[i].allowed_ips[0] ? d->blocks[i].allowed_ips : "-");
}

static int cmd_dump(struct ctx *c)
{
	struct agentless_dump *d = NULL;
	char detail[1024];
	int r;

	if (need_server(c) < 0)
		return EXIT_USAGE;
	if ((r = agentless_dump_wait(c->pool, c->o.server, &d, detail, sizeof(detail))) < 0) {
		fprintf(stderr, "agentless-cli: %s: dump: %s: %s\n", c->o.server, pv_strerror(r),
		        detail);
		return r == PV_ENOTFOUND ? EXIT_USAGE : EXIT_FAILED;
	}
	if (c->o.json)
		print_dump_json(d);
	else
		print_dump_text(d);
	agentless_dump_free(d);
	return EXIT_OK;
}

static int cmd_ping(struct ctx *c)
{
	char detail[1024];
	uint64_t t0 = pv_now_us();
	int r;

	if (need_server(c) < 0)
		return EXIT_USAGE;
	if ((r = agentless_ping_wait(c->pool, c->o.server, detail, sizeof(detail))) < 0) {
		fprintf(stderr, "agentless-cli: %s: ping: %s: %s\n", c->o.server, pv_strerror(r),
		        detail);
		return r == PV_ENOTFOUND ? EXIT_USAGE : EXIT_FAILED;
	}
	printf("%s ok %.3f\n", c->o.server, (double)(pv_now_us() - t0) / 1000.0);
	return EXIT_OK;
}

/* Split at single spaces into at most max words; -1 on more or empty words. */
static int split_words(char *line, char **w, int max)
{
	int n = 0;

	for (;;) {
		char *sp = strchr(line, ' ');

		if (n == max || !*line)
			return -1;
		w[n++] = line;
		if (!sp)
			return n;
		*sp = '\0';
		line = sp + 1;
	}
}

/* One stdin line "add NAME KEY HOST" or "remove NAME KEY" into an edit. */
static int parse_batch_line(char *line, struct agentless_edit *e, size_t lineno)
{
	char *w[4];
	unsigned host = 0;
	int n;

	line[strcspn(line, "\n")] = '\0';
	n = split_words(line, w, 4);
	if (n == 3 && strcmp(w[0], "remove") == 0)
		return make_edit(e, AGENTLESS_REMOVE, w[1], w[2], 0, NULL);
	if (n == 4 && strcmp(w[0], "add") == 0 && parse_uint(w[3], 254, &host) == 0)
		return make_edit(e, AGENTLESS_ADD, w[1], w[2], host, NULL);
	fprintf(stderr,
	        "agentless-cli: stdin line %zu: expected \"add NAME KEY HOST\" or "
	        "\"remove NAME KEY\"\n",
	        lineno);
	return -1;
}

static int cmd_batch(struct ctx *c)
{
	struct agentless_edit *edits = NULL;
	size_t n = 0, cap = 0, i, s, lineno = 0;
	char line[256];
	int all, r = EXIT_USAGE;

	if (need_server(c) < 0)
		return EXIT_USAGE;
	if (c->o.iface) {
		fprintf(stderr, "agentless-cli: batch: --interface is for add and remove; batch "
		                "lines edit wg0\n");
		return EXIT_USAGE;
	}
	all = strcmp(c->o.server, "all") == 0;
	if (!all && !pv_fleet_find(c->fleet, c->o.server)) {
		fprintf(stderr, "agentless-cli: unknown server %s\n", c->o.server);
		return EXIT_USAGE;
	}
	/* Read and check everything first: a bad line sends nothing. */
	while (fgets(line, sizeof(line), stdin)) {
		if (n == cap) {
			struct agentless_edit *ne;

			cap = cap ? cap * 2 : 64;
			ne = realloc(edits, cap * sizeof(*ne));
			if (!ne)
				goto out;
			edits = ne;
		}
		if (parse_batch_line(line, &edits[n], ++lineno) < 0)
			goto out;
		n++;
	}
	for (s = 0; s < c->fleet->n; s++) {
		const char *id = c->fleet->servers[s].id;

		if (!all && strcmp(id, c->o.server) != 0)
			continue;
		for (i = 0; i < n; i++) {
			submit(c, id, &edits[i]);
			if (c->o.sequential)
				tracker_wait(&tracker, 0);
		}
	}
	r = finish();
out:
	if (edits)
		OPENSSL_cleanse(edits, cap * sizeof(*edits));
	free(edits);
	return r;
}

static int setup(struct ctx *c)
{
	char err[512];
	int r;

	if (!c->o.fleet || !c->o.identity || !c->o.known_hosts) {
		fprintf(stderr,
		        "agentless-cli: --fleet, --identity and --known-hosts are required\n");
		return EXIT_USAGE;
	}
	if (pv_fleet_load(&c->fleet, c->o.fleet, err, sizeof(err)) < 0) {
		fprintf(stderr, "agentless-cli: %s\n", err);
		return EXIT_SETUP;
	}
	c->o.cfg.identity = c->o.identity;
	c->o.cfg.known_hosts = c->o.known_hosts;
	if ((r = agentless_new(&c->pool, c->fleet, &c->o.cfg)) < 0) {
		fprintf(stderr, "agentless-cli: identity %s: %s (must exist with mode 0600)\n",
		        c->o.identity, pv_strerror(r));
		return EXIT_SETUP;
	}
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	struct ctx c;
	const struct command *cmd = NULL;
	size_t i;
	int r;

	memset(&c, 0, sizeof(c));
	if (parse_args(&c.o, argc, argv) < 0 || optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd) {
		fprintf(stderr, "agentless-cli: unknown command %s\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	r = setup(&c);
	if (r == EXIT_OK)
		r = cmd->run(&c);
	agentless_free(c.pool);
	pv_fleet_free(c.fleet);
	return r;
}
