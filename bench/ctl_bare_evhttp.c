/* SPDX-License-Identifier: MIT */
/*
 * bench_ctl_bare_evhttp: the ceiling for the controller's GET figures.  A bare
 * libevent evhttp server whose one callback answers every request with the
 * same JSON body (read once from a file, e.g. a saved GET /api/servers
 * reply), so wrk against it and against the controller compares our request
 * path with libevent's own HTTP cost for a body of the same size.
 *
 *   bench_ctl_bare_evhttp BODY_FILE HTTP_ADDR:PORT [HTTPS_ADDR:PORT CERT KEY]
 *
 * Same transport as the controller (controller/http.c, conn.c): one thread,
 * one event loop, TCP_NODELAY on the listeners, TLS through the controller's
 * own bevcb bufferevent (ctl_tls_bufferevent) on an SSL_CTX with its settings.
 * No auth, no routing, no logging, no limits.  Prints "ready" once listening;
 * exits 0 on SIGTERM or SIGINT.  Bench only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "controller.h"

#define MAX_BODY (16L * 1024 * 1024)

struct body {
	char *data;
	size_t len;
};

/* The whole of path into *b (malloc'd, the caller frees b->data); 0 or -1. */
static int body_read(const char *path, struct body *b)
{
	FILE *f = fopen(path, "rb");
	long len = -1;

	b->data = NULL;
	if (!f) {
		fprintf(stderr, "bench_ctl_bare_evhttp: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) == 0)
		len = ftell(f);
	if (len < 0 || len > MAX_BODY || fseek(f, 0, SEEK_SET) != 0)
		goto fail;
	b->len = (size_t)len;
	b->data = malloc(b->len + 1);
	if (!b->data || fread(b->data, 1, b->len, f) != b->len)
		goto fail;
	fclose(f);
	return 0;
fail:
	fprintf(stderr, "bench_ctl_bare_evhttp: %s: cannot read it whole (at most %ld bytes)\n",
	        path, MAX_BODY);
	free(b->data);
	b->data = NULL;
	fclose(f);
	return -1;
}

/* The one callback: the body, by reference (it lives until exit). */
static void answer(struct evhttp_request *req, void *arg)
{
	const struct body *b = arg;
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evbuffer_add_reference(out, b->data, b->len, NULL, NULL);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

/* The controller's server context (controller/http.c tls_ctx_new); NULL on error. */
static SSL_CTX *tls_ctx_new(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	return ctx;
fail:
	fprintf(stderr, "bench_ctl_bare_evhttp: TLS setup with %s and %s failed: %s\n", cert, key,
	        ERR_error_string(ERR_get_error(), NULL));
	SSL_CTX_free(ctx);
	return NULL;
}

/* The controller's own bevcb bufferevent, without its connection accounting. */
static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
	return ctl_tls_bufferevent(base, arg);
}

/* An evhttp answering with b on addr ("HOST:PORT"), TCP_NODELAY; NULL on error. */
static struct evhttp *front_new(struct event_base *base, const char *addr, struct body *b)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	struct evhttp *http = NULL;
	struct evhttp_bound_socket *sock;
	int one = 1;

	if (!colon || (size_t)(colon - addr) >= sizeof(host) || *end || port < 1 || port > 65535) {
		fprintf(stderr, "bench_ctl_bare_evhttp: \"%s\" is not HOST:PORT\n", addr);
		return NULL;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	http = evhttp_new(base);
	if (!http)
		return NULL;
	evhttp_set_gencb(http, answer, b);
	sock = evhttp_bind_socket_with_handle(http, host, (unsigned short)port);
	if (!sock) {
		fprintf(stderr, "bench_ctl_bare_evhttp: cannot listen on %s\n", addr);
		evhttp_free(http);
		return NULL;
	}
	/* As the controller: Linux hands it down to every accepted socket. */
	if (setsockopt(evhttp_bound_socket_get_fd(sock), IPPROTO_TCP, TCP_NODELAY, &one,
	               sizeof(one)) < 0)
		fprintf(stderr, "bench_ctl_bare_evhttp: %s: TCP_NODELAY not set: %s\n", addr,
		        strerror(errno));
	return http;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * Serve until SIGTERM/SIGINT; the HTTPS front only when tls_args is set:
 * {HTTPS_ADDR:PORT, CERT, KEY}.
 */
static int serve(struct body *b, const char *http_addr, char *const *tls_args)
{
	struct event_base *base = event_base_new();
	struct evhttp *plain = NULL, *tls = NULL;
	SSL_CTX *ctx = NULL;
	struct event *term = NULL, *intr = NULL;
	int rc = 1;

	if (!base)
		return 1;
	plain = front_new(base, http_addr, b);
	if (!plain)
		goto out;
	if (tls_args) {
		ctx = tls_ctx_new(tls_args[1], tls_args[2]);
		tls = ctx ? front_new(base, tls_args[0], b) : NULL;
		if (!tls)
			goto out;
		evhttp_set_bevcb(tls, tls_bevcb, ctx);
	}
	term = evsignal_new(base, SIGTERM, on_signal, base);
	intr = evsignal_new(base, SIGINT, on_signal, base);
	if (!term || !intr || evsignal_add(term, NULL) < 0 || evsignal_add(intr, NULL) < 0)
		goto out;
	printf("ready\n");
	fflush(stdout);
	rc = event_base_dispatch(base) < 0;
out:
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	if (tls)
		evhttp_free(tls);
	if (plain)
		evhttp_free(plain);
	SSL_CTX_free(ctx);
	event_base_free(base);
	return rc;
}

int main(int argc, char **argv)
{
	struct body b;
	int rc;

	if (argc != 3 && argc != 6) {
		fprintf(stderr,
		        "usage: bench_ctl_bare_evhttp BODY_FILE HTTP_ADDR:PORT [HTTPS_ADDR:PORT CERT KEY]\n");
		return 2;
	}
	if (body_read(argv[1], &b) < 0)
		return 1;
	/* A client gone mid-reply must not kill the server. */
	signal(SIGPIPE, SIG_IGN);
	rc = serve(&b, argv[2], argc == 6 ? argv + 3 : NULL);
	free(b.data);
	return rc;
}
