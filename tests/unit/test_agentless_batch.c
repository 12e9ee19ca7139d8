/* SPDX-License-Identifier: MIT */
/*
 * The remote batch protocol: edits are checked before anything is sent,
 * addresses follow wireguard-install.sh, the stdin encoding is exact, result
 * lines map to the right codes, and the pool refuses bad submissions at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentless_int.h"
#include "test.h"

#define PUB1 "gm+ReLG11ZIa3BtN0SM6TL+1NXytjLwL1ajq9Tb6u1c="
#define PSK1 "jL6U+gzltGvyhLsMTiFYSzElR1ujXMeacgiW/1QiDn4="

static const char *fleet_json =
        "{\"version\":1,\"servers\":[{\"id\":\"s-1\",\"location\":\"L\",\"region\":\"R\","
        "\"tier\":\"Basic\",\"wireguard\":{\"host\":\"203.0.113.11\",\"port\":51820,"
        "\"interface\":\"wg0\",\"ipv4\":\"10.7.0.0/24\",\"ipv6\":\"fddd:2c4:2c4:2c4::/64\"},"
        "\"ssh\":{\"host\":\"203.0.113.11\",\"port\":22,\"user\":\"root\"}}]}";

static struct pv_fleet *load_fleet(void)
{
	struct pv_fleet *f = NULL;
	char err[256];

	if (pv_fleet_parse(&f, fleet_json, strlen(fleet_json), "test", err, sizeof(err)) < 0)
		TEST_FAIL("fleet: %s", err);
	return f;
}

static struct agentless_edit add_edit(const char *name, unsigned host)
{
	struct agentless_edit e;

	memset(&e, 0, sizeof(e));
	e.op = AGENTLESS_ADD;
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.pubkey, sizeof(e.pubkey), "%s", PUB1);
	pv_key_from_base64(e.psk, PSK1);
	e.host = host;
	return e;
}

static void test_hostile_names_are_refused(void)
{
	static const char *bad[] = {"", "a;b", "$(reboot)", "x\n# END_PEER", "a b", "../x", "ä"};
	struct agentless_edit e = add_edit("ok", 2);
	char err[128];
	size_t i;

	TEST_START("names with ;, $(), newline, space or non-ASCII are refused before encoding");
	ASSERT_INT_EQ(al_edit_check(NULL, &e, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(e.name, sizeof(e.name), "%s", bad[i]);
		ASSERT_INT_EQ(al_edit_check(NULL, &e, err, sizeof(err)), PV_EINVAL);
		ASSERT_STR_CONTAINS(err, "name");
	}
	memset(e.name, 'a', sizeof(e.name)); /* not NUL-terminated */
	ASSERT_INT_EQ(al_edit_check(NULL, &e, err, sizeof(err)), PV_EINVAL);
	e = add_edit("ok", 1);
	ASSERT_INT_EQ(al_edit_check(NULL, &e, err, sizeof(err)), PV_EINVAL);
	ASSERT_STR_CONTAINS(err, "host");
	e.op = 7;
	ASSERT_INT_EQ(al_edit_check(NULL, &e, err, sizeof(err)), PV_EINVAL);
	TEST_DONE();
}

static void test_batch_encoding_is_exact(void)
{
	struct pv_fleet *f = load_fleet();
	struct agentless_edit edits[2] = {add_edit("alice", 2), add_edit("bob", 0)};
	struct al_buf in = {0};

	TEST_START("an add and a remove encode to the exact stdin lines of remote.sh");
	edits[1].op = AGENTLESS_REMOVE;
	ASSERT_INT_EQ(al_batch_encode(&in, &f->servers[0], edits, 2), 0);
	ASSERT_STR_EQ(in.p, "privatevpn-batch 1\niface wg0\nedit\n"
	                    "add alice " PUB1 " 10.7.0.2/32 fddd:2c4:2c4:2c4::2/128\n"
	                    "psk " PSK1 "\n"
	                    "del bob " PUB1 "\nend\n");
	al_buf_free(&in, 1);
	pv_fleet_free(f);
	TEST_DONE();
}

static void test_results_parse(void)
{
	struct al_op_result res[4];

	TEST_START("result lines map to changed, unchanged, conflict and live failures");
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 1 0\n2 ok 0 0 0\n3 error conflict address in use\n"
	                             "4 ok 0 1 0\nlive-add error\ndone\n",
	                             "wg: boom", 4, res),
	              0);
	ASSERT_INT_EQ(res[0].err, PV_EREMOTE);
	ASSERT_STR_CONTAINS(res[0].detail, "wg addconf failed: wg: boom");
	ASSERT_INT_EQ(res[1].err, 0);
	ASSERT_INT_EQ(res[1].changed, 0);
	ASSERT_INT_EQ(res[2].err, PV_EEXIST);
	ASSERT_STR_EQ(res[2].detail, "address in use");
	ASSERT_INT_EQ(res[3].err, PV_EREMOTE);

	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 0 0 1\n2 ok 1 0 0\ndone\n", "", 2, res), 0);
	ASSERT_INT_EQ(res[0].changed, 1);
	ASSERT_INT_EQ(res[1].changed, 1);
	TEST_DONE();
}

static void test_bad_results_fail(void)
{
	struct al_op_result res[2];

	TEST_START("output without done, or missing or duplicate lines, fails the edits");
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 1 0\n2 ok 1 1 0\n", "", 2, res), PV_EREMOTE);
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 1 0\n1 ok 0 0 0\ndone\n", "", 2, res), 0);
	ASSERT_INT_EQ(res[0].changed, 1);
	ASSERT_INT_EQ(res[1].err, PV_EREMOTE);
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 1 0 junk\n3 ok 1 1 0\ndone\n", "", 2, res), 0);
	ASSERT_INT_EQ(res[0].err, PV_EREMOTE);
	ASSERT_INT_EQ(res[1].err, PV_EREMOTE);
	TEST_DONE();
}

static void test_final_counters_parse(void)
{
	struct al_op_result res[3];

	TEST_START("final lines carry a removed peer's counters; malformed ones are ignored");
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 0 1\n2 ok 1 0 1\n3 ok 1 0 0\n"
	                             "final 1 1764540100 9223372036854775807 52000\n"
	                             "final 2 0 1 2\nlive-del ok\ndone\n",
	                             "", 3, res),
	              0);
	ASSERT_INT_EQ(res[0].final.seen, 1);
	ASSERT_INT_EQ(res[0].final.latest_handshake, 1764540100);
	ASSERT_TRUE(res[0].final.rx_bytes == 9223372036854775807ULL);
	ASSERT_TRUE(res[0].final.tx_bytes == 52000);
	ASSERT_INT_EQ(res[1].final.seen, 1);
	ASSERT_TRUE(res[1].final.rx_bytes == 1 && res[1].final.tx_bytes == 2);
	ASSERT_INT_EQ(res[2].final.seen, 0);

	/* Past INT64_MAX, signs, blanks, missing or extra fields, bad or repeated index. */
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 0 1\n2 ok 1 0 1\n3 ok 1 0 1\n"
	                             "final 1 0 9223372036854775808 1\nfinal 1 0 -1 1\n"
	                             "final 1 0 +1 1\nfinal 1 0 1 1 \nfinal 1 0  1 1\n"
	                             "final 1 0 1\nfinal 1 0 1 1 1\nfinal 4 0 1 1\n"
	                             "final 0 0 1 1\nfinal 2 0 1 1x\nfinal 3 0 7 8\n"
	                             "final 3 0 9 9\nlive-del ok\ndone\n",
	                             "", 3, res),
	              0);
	ASSERT_INT_EQ(res[0].final.seen, 0);
	ASSERT_INT_EQ(res[1].final.seen, 0);
	ASSERT_INT_EQ(res[2].final.seen, 1);
	ASSERT_TRUE(res[2].final.rx_bytes == 7 && res[2].final.tx_bytes == 8);

	/* The removal failed: the peer is still live, its counters are not final. */
	memset(res, 0, sizeof(res));
	ASSERT_INT_EQ(al_batch_parse("1 ok 1 0 1\nfinal 1 0 5 6\nlive-del error\ndone\n",
	                             "wg: boom", 1, res),
	              0);
	ASSERT_INT_EQ(res[0].err, PV_EREMOTE);
	ASSERT_INT_EQ(res[0].final.seen, 0);
	TEST_DONE();
}

static void test_answers_are_framed(void)
{
	static const char stream[] = "1 ok 1 1 0\nlive-add ok\ndone\nprivatevpn-end 0\n"
	                             "privatevpn-remote: locked\nprivatevpn-end 3\n"
	                             "privatevpn-end 0\n1 ok 0 0 0\npriv";
	struct al_buf buf = {0}, out = {0};
	size_t scan = 0;
	int status = -1;
	char stray[128];

	TEST_START("answers split at their end lines, arriving in pieces, with their status");
	/* Byte by byte: an answer is taken only once its end line is whole. */
	ASSERT_INT_EQ(al_buf_add(&buf, stream, 20, SIZE_MAX), 0);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), 0);
	ASSERT_INT_EQ(al_buf_add(&buf, stream + 20, 24, SIZE_MAX), 0);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), 0);
	ASSERT_INT_EQ(al_buf_add(&buf, stream + 44, sizeof(stream) - 45, SIZE_MAX), 0);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), 1);
	ASSERT_STR_EQ(out.p, "1 ok 1 1 0\nlive-add ok\ndone\n");
	ASSERT_INT_EQ(status, 0);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), 1);
	ASSERT_STR_EQ(out.p, "privatevpn-remote: locked\n");
	ASSERT_INT_EQ(status, 3);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), 1);
	ASSERT_STR_EQ(out.p, "");
	ASSERT_INT_EQ(status, 0);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), 0);
	ASSERT_STR_EQ(buf.p, "1 ok 0 0 0\npriv");
	ASSERT_INT_EQ(al_buf_add(&buf, "atevpn-end x\n", 13, SIZE_MAX), 0);
	ASSERT_INT_EQ(al_answer_take(&buf, &scan, &out, &status), PV_EREMOTE);
	al_answer_stray("1 ok 1 1 0\nwg: boom\nlive-add error\nLine 2\ndone\n", stray,
	                sizeof(stray));
	ASSERT_STR_EQ(stray, "wg: boom; Line 2");
	al_buf_free(&buf, 1);
	al_buf_free(&out, 1);
	TEST_DONE();
}

static void never(const struct agentless_result *res, void *arg)
{
	(void)res;
	(void)arg;
	TEST_FAIL("%s", "callback ran for a refused submission");
}

static void never_read(int err, const char *detail, const struct agentless_dump *dump, void *arg)
{
	(void)err;
	(void)detail;
	(void)dump;
	(void)arg;
	TEST_FAIL("%s", "callback ran for a refused ping");
}

static void test_pool_refuses_at_once(void)
{
	struct pv_fleet *f = load_fleet();
	struct agentless_config cfg = {.identity = "/tmp/pv-unit-agentless-id.tmp",
	                               .known_hosts = "/dev/null"};
	struct agentless *pool = NULL;
	struct agentless_edit e = add_edit("ok", 2);
	size_t depth;
	FILE *fp;

	TEST_START("the pool refuses bad edits, unknown and removed servers without calling back");
	fp = fopen(cfg.identity, "w");
	ASSERT_TRUE(fp != NULL);
	fclose(fp);
	chmod(cfg.identity, 0644);
	ASSERT_INT_EQ(agentless_new(&pool, f, &cfg), PV_EINVAL);
	chmod(cfg.identity, 0600);
	ASSERT_INT_EQ(agentless_new(&pool, f, &cfg), 0);
	ASSERT_INT_EQ(agentless_submit(pool, "nope", &e, never, NULL), PV_ENOTFOUND);
	snprintf(e.name, sizeof(e.name), "a;b");
	ASSERT_INT_EQ(agentless_submit(pool, "s-1", &e, never, NULL), PV_EINVAL);
	e = add_edit("ok", 300);
	ASSERT_INT_EQ(agentless_submit(pool, "s-1", &e, never, NULL), PV_EINVAL);
	/* A removed server is unknown at once; its retired worker is joined by agentless_free. */
	ASSERT_INT_EQ(agentless_remove_server(pool, "s-1"), 0);
	e = add_edit("ok", 2);
	ASSERT_INT_EQ(agentless_submit(pool, "s-1", &e, never, NULL), PV_ENOTFOUND);
	ASSERT_INT_EQ(agentless_ping(pool, "s-1", never_read, NULL), PV_ENOTFOUND);
	ASSERT_INT_EQ(agentless_queue_depth(pool, "s-1", &depth), PV_ENOTFOUND);
	ASSERT_INT_EQ(agentless_remove_server(pool, "s-1"), PV_ENOTFOUND);
	agentless_free(pool);
	unlink(cfg.identity);
	pv_fleet_free(f);
	TEST_DONE();
}

int main(void)
{
	test_hostile_names_are_refused();
	test_batch_encoding_is_exact();
	test_results_parse();
	test_bad_results_fail();
	test_final_counters_parse();
	test_answers_are_framed();
	test_pool_refuses_at_once();
	TEST_SUMMARY();
}
