/* SPDX-License-Identifier: MIT */
/*
 * Every client connection, plain and TLS, under the limits libevent 2.1's
 * evhttp lacks: a total and a per-address cap (below RLIMIT_NOFILE), a
 * deadline for each request's headers and body (evhttp's own timeout is an
 * idle timeout that every byte resets), a bound on what a connection may
 * buffer, and an accept loop that pauses instead of spinning when the
 * process runs out of descriptors.
 *
 * evhttp makes each connection's bufferevent through our bevcb, which gets
 * neither the socket nor the address.  So the bevcb counts the connection,
 * sets its watermarks, keeps a reference on the bufferevent and queues it;
 * an event run right after the accept (same loop iteration) "adopts" it:
 * evhttp has by then set the socket and its own callbacks (the callback
 * argument is the evhttp_connection), so we can read the peer address,
 * apply the per-address cap and register a close callback.  A bufferevent
 * evhttp already dropped has its callbacks cleared (bufferevent_free), which
 * our reference lets us see safely.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "controller.h"

/* Descriptors kept back from the connection cap: SSH pool, SQLite, log, listeners. */
#define FD_HEADROOM 64
/* Input one connection may buffer beyond the largest request evhttp reads. */
#define INPUT_SLACK 4096
/* Pause of the accept loop after running out of descriptors (µs). */
#define PAUSE_US 250000L
/* Refusals are summed into one log line at most this often. */
#define REFUSE_LOG_S 10

struct ctl_conn {
	struct ctl_conns *cs;
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* NULL until adopted */
	struct event *deadline;
	struct ctl_conn *next_new; /* queue of connections not adopted yet */
	unsigned char key[16];
	int fd;
};

struct ctl_conns {
	struct ctl *ctl;
	struct ctl_addrs *addrs;
	struct ctl_conn **by_fd; /* adopted connections by socket */
	size_t n_fd;
	struct ctl_conn *queue; /* waiting for adopt_ev */
	struct event *adopt_ev;
	size_t total, max_total;
	struct timeval deadline;
	size_t input_max;
	/* Out of descriptors: a spare one to accept-and-close with, and a timer. */
	int reserve_fd;
	struct event *resume_ev;
	int starved; /* inside an episode: logged once, ends at the next accept */
	unsigned long starved_refused;
	/* Refusals by the caps, summed into one log line per REFUSE_LOG_S. */
	unsigned long refused_total, refused_addr;
	int64_t refused_logged_at;
};

/* One controller per process: the listener error callback gets evhttp's argument, not ours. */
static struct ctl_conns *the_conns;

static void log_refusals(struct ctl_conns *cs, int force)
{
	int64_t now = ctl_mono_s();

	if (!cs->refused_total && !cs->refused_addr)
		return;
	if (!force && now - cs->refused_logged_at < REFUSE_LOG_S)
		return;
	ctl_log("connections refused: %lu over the total cap (%zu), %lu over the "
	        "per-address cap (%zu) in the last %llds",
	        cs->refused_total, cs->max_total, cs->refused_addr,
	        (size_t)cs->ctl->cfg->max_connections_per_addr,
	        (long long)(now - cs->refused_logged_at));
	cs->refused_total = cs->refused_addr = 0;
	cs->refused_logged_at = now;
}

/* ---- refusing a connection inside the bevcb ---------------------------------- */

/*
 * evhttp needs a bufferevent from the bevcb (NULL makes it create a plain
 * one, which on the TLS port would speak clear text).  One end of a pair
 * cannot take a socket: evhttp's bufferevent_setfd fails, and it closes the
 * socket and frees the connection at once.
 */
static struct bufferevent *refusing_bev(struct event_base *base)
{
	struct bufferevent *pair[2];

	if (bufferevent_pair_new(base, 0, pair) < 0)
		return NULL;
	bufferevent_free(pair[1]);
	return pair[0];
}

/* ---- per-connection life ----------------------------------------------------- */

static void conn_free(struct ctl_conn *c)
{
	struct ctl_conns *cs = c->cs;

	if (c->evcon) {
		ctl_addrs_conn_del(cs->addrs, c->key);
		if (c->fd >= 0 && (size_t)c->fd < cs->n_fd && cs->by_fd[c->fd] == c)
			cs->by_fd[c->fd] = NULL;
	}
	if (c->deadline)
		event_free(c->deadline);
	cs->total--;
	free(c);
}

/* evhttp frees the connection (reset or free): runs once per adopted connection. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct ctl_conn *c = arg;

	(void)evcon;
	conn_free(c);
}

/* The request did not arrive whole in time: drop the connection. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conn *c = arg;

	(void)fd;
	(void)what;
	/* Frees c through on_close. */
	evhttp_connection_free(c->evcon);
}

static void arm(struct ctl_conn *c)
{
	event_add(c->deadline, &c->cs->deadline);
}

/* Give a queued connection its address, cap and close callback, or drop it. */
static void adopt(struct ctl_conns *cs, struct ctl_conn *c)
{
	struct bufferevent *bev = c->bev;
	struct evhttp_connection *evcon = NULL;
	const struct sockaddr *sa;
	int r;

	bufferevent_getcb(bev, NULL, NULL, NULL, (void **)&evcon);
	if (!evcon) { /* evhttp gave up on it already */
		conn_free(c);
		bufferevent_decref(bev);
		return;
	}
	sa = evhttp_connection_get_addr(evcon);
	c->fd = bufferevent_getfd(bev);
	r = ctl_addr_key(c->key, sa);
	if (r == 0 && (c->fd < 0 || (size_t)c->fd >= cs->n_fd))
		r = PV_EBUSY;
	if (r == 0 && (r = ctl_addrs_conn_add(cs->addrs, c->key)) < 0)
		cs->refused_addr++;
	if (r == 0) {
		c->deadline = event_new(cs->ctl->base, -1, 0, on_deadline, c);
		if (!c->deadline) {
			ctl_addrs_conn_del(cs->addrs, c->key);
			r = PV_ENOMEM;
		}
	}
	if (r < 0) {
		conn_free(c);
		evhttp_connection_free(evcon);
		bufferevent_decref(bev);
		log_refusals(cs, 0);
		return;
	}
	c->evcon = evcon;
	cs->by_fd[c->fd] = c;
	evhttp_connection_set_closecb(evcon, on_close, c);
	arm(c);
	bufferevent_decref(bev);
}

static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conns *cs = arg;

	(void)fd;
	(void)what;
	while (cs->queue) {
		struct ctl_conn *c = cs->queue;

		cs->queue = c->next_new;
		adopt(cs, c);
	}
}

/* Count a new connection, bound its buffers and queue it for adoption. */
static struct bufferevent *conn_new(struct ctl_conns *cs, struct bufferevent *bev)
{
	struct ctl_conn *c;

	if (cs->starved) {
		ctl_log("descriptors available again: accepting (%lu connections refused meanwhile)",
		        cs->starved_refused);
		cs->starved = 0;
		cs->starved_refused = 0;
	}
	if (!bev)
		return refusing_bev(cs->ctl->base);
	if (cs->total >= cs->max_total || !(c = calloc(1, sizeof(*c)))) {
		if (cs->total >= cs->max_total)
			cs->refused_total++;
		log_refusals(cs, 0);
		bufferevent_free(bev);
		return refusing_bev(cs->ctl->base);
	}
	c->cs = cs;
	c->bev = bev;
	c->fd = -1;
	/*
	 * A client that pipelines and never reads: evhttp keeps reading while
	 * it writes a reply (to see a close), so only this bounds the input.
	 */
	bufferevent_setwatermark(bev, EV_READ, 0, cs->input_max);
	bufferevent_incref(bev);
	cs->total++;
	c->next_new = cs->queue;
	cs->queue = c;
	event_active(cs->adopt_ev, EV_TIMEOUT, 0);
	return bev;
}

static struct bufferevent *plain_bevcb(struct event_base *base, void *arg)
{
	struct ctl *ctl = arg;

	return conn_new(ctl->conns, bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE));
}

struct bufferevent *ctl_tls_bufferevent(struct event_base *base, SSL_CTX *ctx)
{
	SSL *ssl = SSL_new(ctx);
	struct bufferevent *bev = NULL;

	if (ssl) {
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                                     BEV_OPT_CLOSE_ON_FREE);
		if (!bev)
			SSL_free(ssl);
	}
	return bev;
}

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
	struct ctl *ctl = arg;

	return conn_new(ctl->conns, ctl_tls_bufferevent(base, ctl->ssl_ctx));
}

/* ---- requests ---------------------------------------------------------------- */

static struct ctl_conn *conn_of(struct ctl_conns *cs, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	int fd = evcon ? bufferevent_getfd(evhttp_connection_get_bufferevent(evcon)) : -1;
	struct ctl_conn *c = fd >= 0 && (size_t)fd < cs->n_fd ? cs->by_fd[fd] : NULL;

	return c && c->evcon == evcon ? c : NULL;
}

/* The reply went out and the connection stays: the next request gets a new deadline. */
static void on_reply_sent(struct evhttp_request *req, void *arg)
{
	(void)req;
	arm(arg);
}

void ctl_conn_request(struct ctl *ctl, struct evhttp_request *req)
{
	struct ctl_conn *c = conn_of(ctl->conns, req);

	if (!c)
		return;
	event_del(c->deadline);
	evhttp_request_set_on_complete_cb(req, on_reply_sent, c);
}

int ctl_conn_peer(struct evhttp_request *req, unsigned char key[16], char *name, size_t namelen)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *sa = evcon ? evhttp_connection_get_addr(evcon) : NULL;

	ctl_addr_name(name, namelen, sa);
	return ctl_addr_key(key, sa);
}

/* ---- running out of descriptors ---------------------------------------------- */

static void set_listeners(struct ctl *ctl, int on)
{
	struct evhttp_bound_socket *socks[2] = {ctl->http_sock, ctl->https_sock};
	size_t i;

	for (i = 0; i < 2; i++) {
		if (!socks[i])
			continue;
		if (on)
			evconnlistener_enable(evhttp_bound_socket_get_listener(socks[i]));
		else
			evconnlistener_disable(evhttp_bound_socket_get_listener(socks[i]));
	}
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_conns *cs = arg;

	(void)fd;
	(void)what;
	set_listeners(cs->ctl, 1);
}

/*
 * accept() failed.  Out of descriptors, the pending connection would make
 * the listener fire again at once: spend the reserve descriptor to accept
 * and close it (the client sees a close, not a hang), stop accepting for a
 * moment, and log once per episode.
 */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct ctl_conns *cs = the_conns;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, PAUSE_US};
	int fd;

	(void)arg;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		ctl_log("accept failed: %s", strerror(err));
		return;
	}
	if (!cs->starved)
		ctl_log("out of file descriptors (%s): pausing accepts, closing new "
		        "connections until descriptors are free",
		        strerror(err));
	cs->starved = 1;
	if (cs->reserve_fd >= 0) {
		close(cs->reserve_fd);
		fd = accept(evconnlistener_get_fd(lev), NULL, NULL);
		if (fd >= 0) {
			close(fd);
			cs->starved_refused++;
		}
		cs->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	set_listeners(cs->ctl, 0);
	event_add(cs->resume_ev, &tv);
}

/* ---- setup ------------------------------------------------------------------- */

static int total_cap(const struct ctl_config *cfg, size_t *cap, size_t *nofile, char *err,
                     size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		ctl_errf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return PV_EIO;
	}
	*nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1U << 20) ? (1U << 20)
	                                                                   : (size_t)rl.rlim_cur;
	if (*nofile < FD_HEADROOM + 16) {
		ctl_errf(err, errlen,
		         "the descriptor limit (ulimit -n) is %zu: at least %d needed "
		         "(%d for the SSH pool, SQLite and listeners, 16 for clients)",
		         *nofile, FD_HEADROOM + 16, FD_HEADROOM);
		return PV_EINVAL;
	}
	*cap = (size_t)cfg->max_connections;
	if (*cap > *nofile - FD_HEADROOM) {
		*cap = *nofile - FD_HEADROOM;
		ctl_log("max_connections %ld lowered to %zu: the descriptor limit is %zu "
		        "(raise ulimit -n for more)",
		        cfg->max_connections, *cap, *nofile);
	}
	return 0;
}

int ctl_conns_start(struct ctl *ctl, char *err, size_t errlen)
{
	const struct ctl_config *cfg = ctl->cfg;
	struct ctl_conns *cs = calloc(1, sizeof(*cs));
	size_t nofile;
	int r;

	if (!cs)
		goto nomem;
	ctl->conns = cs;
	cs->ctl = ctl;
	cs->reserve_fd = -1;
	if ((r = total_cap(cfg, &cs->max_total, &nofile, err, errlen)) < 0)
		return r;
	cs->n_fd = nofile;
	/* An array of pointers, one per possible descriptor. */
	// NOLINTNEXTLINE(bugprone-sizeof-expression)
	cs->by_fd = calloc(nofile, sizeof(*cs->by_fd));
	cs->addrs = ctl_addrs_new(cs->max_total, cfg->max_connections_per_addr, cfg->auth_fail_max,
	                          cfg->auth_fail_window_s);
	cs->adopt_ev = event_new(ctl->base, -1, 0, on_adopt, cs);
	cs->resume_ev = evtimer_new(ctl->base, on_resume, cs);
	cs->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!cs->by_fd || !cs->addrs || !cs->adopt_ev || !cs->resume_ev)
		goto nomem;
	if (cs->reserve_fd < 0) {
		ctl_errf(err, errlen, "cannot open the reserve descriptor /dev/null: %s",
		         strerror(errno));
		return PV_EIO;
	}
	cs->deadline.tv_sec = cfg->request_timeout_s;
	/*
	 * evhttp waits for a whole Content-Length body in this buffer before
	 * dispatching, so it must hold the largest body evhttp accepts.
	 */
	cs->input_max = (size_t)(cfg->max_header_bytes + cfg->max_body_bytes) +
	                CTL_EVHTTP_BODY_MARGIN + INPUT_SLACK;
	cs->refused_logged_at = ctl_mono_s();
	the_conns = cs;
	ctl_log("connection limits: %zu in total, %ld per address, %lds per request, "
	        "%zu bytes of input per connection",
	        cs->max_total, cfg->max_connections_per_addr, cfg->request_timeout_s,
	        cs->input_max);
	return 0;
nomem:
	ctl_errf(err, errlen, "out of memory setting up the connection table");
	return PV_ENOMEM;
}

void ctl_conns_attach(struct ctl *ctl, struct evhttp *http, struct evhttp_bound_socket *sock,
                      int tls)
{
	evhttp_set_bevcb(http, tls ? tls_bevcb : plain_bevcb, ctl);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(sock), on_accept_error);
}

void ctl_conns_stop(struct ctl *ctl)
{
	struct ctl_conns *cs = ctl->conns;

	if (!cs)
		return;
	/* evhttp_free ran first: adopted connections are gone; drop the queue's references. */
	while (cs->queue) {
		struct ctl_conn *c = cs->queue;

		cs->queue = c->next_new;
		bufferevent_decref(c->bev);
		conn_free(c);
	}
	log_refusals(cs, 1);
	if (cs->adopt_ev)
		event_free(cs->adopt_ev);
	if (cs->resume_ev)
		event_free(cs->resume_ev);
	if (cs->reserve_fd >= 0)
		close(cs->reserve_fd);
	ctl_addrs_free(cs->addrs);
	free(cs->by_fd);
	if (the_conns == cs)
		the_conns = NULL;
	free(cs);
	ctl->conns = NULL;
}

struct ctl_addrs *ctl_conns_addrs(struct ctl *ctl)
{
	return ctl->conns->addrs;
}
