/* SPDX-License-Identifier: MIT */
/* The latency probe on loopback: a listener and a refusal both count as one round trip. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "test.h"
#include "vpnctl.h"

/* A loopback port: listening if listen_it, else bound-then-closed (refuses). */
static unsigned loopback_port(int listen_it, int *fd_out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_TRUE(fd >= 0);
	ASSERT_INT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ASSERT_INT_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (listen_it)
		ASSERT_INT_EQ(listen(fd, 16), 0);
	else
		close(fd);
	*fd_out = listen_it ? fd : -1;
	return ntohs(sa.sin_port);
}

static void test_listener_and_refusal_are_reachable(void)
{
	struct vpnctl_server s[2];
	int lfd, dummy;

	TEST_START("a listening and a refusing port both answer the probe, fast");
	memset(s, 0, sizeof(s));
	snprintf(s[0].host, sizeof(s[0].host), "127.0.0.1");
	snprintf(s[1].host, sizeof(s[1].host), "127.0.0.1");
	s[0].port = loopback_port(1, &lfd);
	s[1].port = loopback_port(0, &dummy);
	ASSERT_INT_EQ(vpnctl_probe(s, 2, 1500, 0), 0);
	ASSERT_INT_EQ(s[0].reachable, 1);
	ASSERT_INT_EQ(s[1].reachable, 1);
	ASSERT_TRUE(s[0].rtt_us >= 0 && s[1].rtt_us >= 0);
	/* Well under the timeout: these are answers, not timeouts. */
	ASSERT_INT_LT(s[1].rtt_us, 1500 * 1000);
	close(lfd);
	TEST_DONE();
}

static void test_unresolvable_host_is_unreachable(void)
{
	struct vpnctl_server s;

	TEST_START("a host that cannot be resolved is unreachable, with curl's code kept");
	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "no-such-host.invalid");
	s.port = 51820;
	ASSERT_INT_EQ(vpnctl_probe(&s, 1, 500, 0), 0);
	ASSERT_INT_EQ(s.reachable, 0);
	ASSERT_INT_EQ(s.probe_error, CURLE_COULDNT_RESOLVE_HOST);
	TEST_DONE();
}

int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_listener_and_refusal_are_reachable();
	test_unresolvable_host_is_unreachable();
	curl_global_cleanup();
	TEST_SUMMARY();
}
