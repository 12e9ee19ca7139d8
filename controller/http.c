/* SPDX-License-Identifier: MIT */
/*
 * The HTTP front end: two evhttp on one event base (plain HTTP and HTTPS
 * with OpenSSL bufferevents), size limits and slow-client timeouts, JSON
 * replies and the one access-log line per request.  The log line holds the
 * method, path, status, time and user: never a key, PSK or config.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "controller.h"

/* jansson's allocator: a size header so every free can cleanse what it held. */
static void *secure_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(size_t));

	if (!p)
		return NULL;
	*p = n;
	return p + 1;
}

static void secure_free(void *ptr)
{
	size_t *p = ptr;

	if (!p)
		return;
	p--;
	OPENSSL_clear_free(p, *p + sizeof(size_t));
}

void ctl_json_free(void *p)
{
	json_free_t f = NULL;

	json_get_alloc_funcs(NULL, &f);
	if (f)
		f(p);
}

void ctl_json_secure_alloc(void)
{
	json_set_alloc_funcs(secure_malloc, secure_free);
}

void ctl_log(const char *fmt, ...)
{
	char line[2048];
	struct timespec now;
	struct tm tm;
	size_t n;
	int m;
	va_list ap;

	/* Formatted whole, then one fwrite on unbuffered stderr: one write(2)
	 * per line instead of three, and no interleaving with another thread. */
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ ", now.tv_nsec / 1000000);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0) /* a longer line is cut, its newline kept */
		n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

const char *ctl_req_body(struct ctl_req *rq, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(rq->req);

	*len = evbuffer_get_length(in);
	return (const char *)evbuffer_pullup(in, -1);
}

void ctl_escape(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, j = 0;

	if (!dstlen)
		return;
	for (i = 0; i < srclen; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (ch >= 0x20 && ch < 0x7f) {
			if (j + 1 >= dstlen)
				break;
			dst[j++] = (char)ch;
			continue;
		}
		if (j + 4 >= dstlen)
			break;
		dst[j++] = '\\';
		dst[j++] = 'x';
		dst[j++] = hex[ch >> 4];
		dst[j++] = hex[ch & 15];
	}
	dst[j] = '\0';
}

/* Fill out with text (a JSON document) or, when NULL, a JSON 500; the status to send. */
static int json_body(struct evbuffer *out, int status, const char *text)
{
	if (out && text) {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
		return status;
	}
	if (out)
		evbuffer_add_printf(out, "{\"error\":\"out of memory\",\"code\":\"internal\"}\n");
	return 500;
}

void ctl_reply_nomem(struct evhttp_request *req)
{
	struct evbuffer *out = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply(req, json_body(out, 500, NULL), NULL, out);
	if (out)
		evbuffer_free(out);
	ctl_log("request dropped: out of memory (500)");
}

/* Send, log the access line, count it (metrics.c), free rq. */
static void reply_send(struct ctl_req *rq, int status, const char *content_type,
                       struct evbuffer *out)
{
	uint64_t us = pv_now_us() - rq->start_us;

	evhttp_add_header(evhttp_request_get_output_headers(rq->req), "Content-Type", content_type);
	evhttp_send_reply(rq->req, status, NULL, out);
	ctl_log("%s %s %d %llu.%03llums %s", rq->method, rq->path, status,
	        (unsigned long long)(us / 1000), (unsigned long long)(us % 1000), rq->user);
	ctl_metrics_request(rq->ctl, rq, status, us);
	free(rq);
}

void ctl_reply(struct ctl_req *rq, int status, json_t *body)
{
	struct evbuffer *out;
	char *text;
	int sent;

	if (ctl_group_hold(rq, status, body))
		return; /* sent once the DB writes behind it are durable */
	out = evbuffer_new();
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	sent = json_body(out, status, text);

	if (sent != status)
		rq->code = "internal";
	reply_send(rq, sent, "application/json", out);
	ctl_json_free(text); /* the secure allocator cleanses it */
	if (out)
		evbuffer_free(out);
	json_decref(body);
}

void ctl_reply_text(struct ctl_req *rq, int status, const char *content_type, struct evbuffer *body)
{
	reply_send(rq, status, content_type, body);
}

void ctl_reply_error(struct ctl_req *rq, int err, const char *fmt, ...)
{
	char msg[512], safe[sizeof(msg)];
	const char *code;
	int status = ctl_err_status(err, &code);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Parser messages quote client bytes: JSON needs valid UTF-8, the reader plain text. */
	ctl_escape(safe, sizeof(safe), msg, strlen(msg));
	rq->code = code;
	ctl_reply(rq, status, json_pack("{s:s, s:s}", "error", safe, "code", code));
}

/* OpenSSL's last error as text, never NULL. */
static const char *ssl_error(char *buf, size_t len)
{
	ERR_error_string_n(ERR_get_error(), buf, len);
	return buf;
}

/* A server SSL_CTX with cfg's certificate and key into *out; errors name the field. */
static int tls_ctx_new(const struct ctl_config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256];

	*out = NULL;

	if (!ctx)
		goto fail;
	/* TLS 1.2 at least; OpenSSL negotiates 1.3 first when the client has it. */
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		ctl_errf(err, errlen, "tls_cert %s: %s", cfg->tls_cert,
		         ssl_error(why, sizeof(why)));
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ctl_errf(err, errlen, "tls_key %s: %s", cfg->tls_key, ssl_error(why, sizeof(why)));
		goto out;
	}
	*out = ctx;
	return 0;
fail:
	ctl_errf(err, errlen, "TLS setup failed: %s", ssl_error(why, sizeof(why)));
out:
	SSL_CTX_free(ctx);
	return PV_ECRYPTO;
}

/* New evhttp with our limits, bound to addr (field names it in errors). */
static struct evhttp *front_new(struct ctl *ctl, const char *field, const char *addr,
                                void (*dispatch)(struct evhttp_request *, void *),
                                struct evhttp_bound_socket **sock, char *err, size_t errlen)
{
	const struct ctl_config *cfg = ctl->cfg;
	struct evhttp *http = evhttp_new(ctl->base);
	int one = 1;
	char host[64];
	uint16_t port;

	if (!http) {
		ctl_errf(err, errlen, "%s: evhttp_new failed", field);
		return NULL;
	}
	/*
	 * evhttp answers an oversized body with a fixed HTML 413 and closes;
	 * keep its limit 1 MiB above ours so that up to there clients get our
	 * JSON 413 (routes.c checks Content-Length and the body read).
	 */
	evhttp_set_max_body_size(http, (ev_ssize_t)cfg->max_body_bytes + CTL_EVHTTP_BODY_MARGIN);
	/* Drain an oversized body before closing, so the client reads the 413. */
	evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_max_headers_size(http, (ev_ssize_t)cfg->max_header_bytes);
	evhttp_set_timeout(http, (int)cfg->client_timeout_s);
	/* Let every method through: routes.c answers a JSON 405, evhttp a 501. */
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                         EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, dispatch, ctl);
	/* No evhttp_set_max_connections in 2.1: conn.c counts and bounds connections. */
	ctl_listen_parse(addr, host, sizeof(host), &port);
	*sock = evhttp_bind_socket_with_handle(http, host, port);
	if (!*sock) {
		ctl_errf(err, errlen, "%s \"%s\": cannot listen (address in use or not local?)",
		         field, addr);
		evhttp_free(http);
		return NULL;
	}
	/*
	 * TLS writes headers and body as separate records; without TCP_NODELAY
	 * the second one waits for the client's delayed ACK, 40 ms a response.
	 * Linux hands the option down to every accepted socket.
	 */
	if (setsockopt(evhttp_bound_socket_get_fd(*sock), IPPROTO_TCP, TCP_NODELAY, &one,
	               sizeof(one)) < 0)
		ctl_log("%s \"%s\": TCP_NODELAY not set: %s", field, addr, strerror(errno));
	ctl_conns_attach(ctl, http, *sock, strcmp(field, "https_listen") == 0);
	/* Do not accept until the startup health pass knows the servers' keys. */
	evconnlistener_disable(evhttp_bound_socket_get_listener(*sock));
	return http;
}

/* Log the address actually bound (port 0 picks one). */
static void log_bound(const char *what, struct evhttp_bound_socket *sock)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} a;
	socklen_t len = sizeof(a);
	char host[64] = "?";
	unsigned port = 0;

	memset(&a, 0, sizeof(a));
	if (getsockname(evhttp_bound_socket_get_fd(sock), &a.sa, &len) == 0) {
		if (a.sa.sa_family == AF_INET6) {
			evutil_inet_ntop(AF_INET6, &a.in6.sin6_addr, host, sizeof(host));
			port = ntohs(a.in6.sin6_port);
		} else {
			evutil_inet_ntop(AF_INET, &a.in.sin_addr, host, sizeof(host));
			port = ntohs(a.in.sin_port);
		}
	}
	ctl_log("listening %s on %s port %u", what, host, port);
}

/*
 * libevent's own warnings on stderr, through our log.  Connections conn.c
 * refused make evhttp warn "cannot get connection" once each: those are
 * counted and summed there, so they are dropped here.
 */
static void on_libevent_log(int severity, const char *msg)
{
	if (severity < EVENT_LOG_WARN || strstr(msg, "cannot get connection"))
		return;
	ctl_log("libevent: %s", msg);
}

int ctl_http_start(struct ctl *ctl, char *err, size_t errlen)
{
	const struct ctl_config *cfg = ctl->cfg;
	int r;

	event_set_log_callback(on_libevent_log);
	if ((r = ctl_conns_start(ctl, err, errlen)) < 0)
		return r;
	if (cfg->http_listen && *cfg->http_listen) {
		ctl->http = front_new(ctl, "http_listen", cfg->http_listen, ctl_dispatch,
		                      &ctl->http_sock, err, errlen);
		if (!ctl->http)
			return PV_EIO;
	}
	if (cfg->https_listen && *cfg->https_listen) {
		if (tls_ctx_new(cfg, &ctl->ssl_ctx, err, errlen) < 0)
			return PV_EINVAL;
		ctl->https = front_new(ctl, "https_listen", cfg->https_listen, ctl_dispatch,
		                       &ctl->https_sock, err, errlen);
		if (!ctl->https)
			return PV_EIO;
	}
	if (cfg->metrics_listen && *cfg->metrics_listen) {
		ctl->metrics_http =
		        front_new(ctl, "metrics_listen", cfg->metrics_listen, ctl_dispatch_metrics,
		                  &ctl->metrics_sock, err, errlen);
		if (!ctl->metrics_http)
			return PV_EIO;
	}
	return 0;
}

void ctl_http_enable(struct ctl *ctl)
{
	if (ctl->http_sock) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(ctl->http_sock));
		log_bound("http", ctl->http_sock);
	}
	if (ctl->https_sock) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(ctl->https_sock));
		log_bound("https", ctl->https_sock);
	}
	if (ctl->metrics_sock) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(ctl->metrics_sock));
		log_bound("metrics", ctl->metrics_sock);
	}
}

int ctl_tls_reload(struct ctl *ctl, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int r;

	if (!ctl->ssl_ctx)
		return 0;
	if ((r = tls_ctx_new(ctl->cfg, &ctx, err, errlen)) < 0)
		return r;
	/*
	 * Connections hold their own reference (SSL_new takes one on the
	 * context), so they keep the old certificate until they close; only
	 * new connections see the new one.
	 */
	SSL_CTX_free(ctl->ssl_ctx);
	ctl->ssl_ctx = ctx;
	return 0;
}

void ctl_http_stop(struct ctl *ctl)
{
	if (ctl->http)
		evhttp_free(ctl->http);
	if (ctl->https)
		evhttp_free(ctl->https);
	if (ctl->metrics_http)
		evhttp_free(ctl->metrics_http);
	ctl->http = ctl->https = ctl->metrics_http = NULL;
	ctl->http_sock = ctl->https_sock = ctl->metrics_sock = NULL;
	ctl_conns_stop(ctl);
	SSL_CTX_free(ctl->ssl_ctx);
	ctl->ssl_ctx = NULL;
}
