/* SPDX-License-Identifier: MIT */
/*
 * The batch buffer (al_buf, agentless/remote.c) holds PSK lines; when it
 * grows, the old block must be cleansed before it is freed.  realloc would
 * free it inside libc with the PSKs still in it, unseen.  This binary is
 * linked with -Wl,--wrap=free,--wrap=realloc (tests/CMakeLists.txt), so
 * every free and realloc the agentless code makes passes through here, and
 * we can look at a block before it goes back to the allocator.
 */
#include <malloc.h>
#include <string.h>

#include "agentless_int.h"
#include "test.h"

void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* A PSK-looking marker that must never reach the allocator in a freed block. */
static const char marker[] = "PSK-MARKER-7f3a9c";
static int realloc_with_secret, free_with_secret, frees_seen;

static int holds_marker(void *p)
{
	size_t n = p ? malloc_usable_size(p) : 0;

	return n >= sizeof(marker) && memmem(p, n, marker, sizeof(marker) - 1) != NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
	realloc_with_secret += holds_marker(p);
	return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
	frees_seen += p != NULL;
	free_with_secret += holds_marker(p);
	__real_free(p);
}

int main(void)
{
	struct al_buf b = {0};
	char filler[1000];
	int i;

	TEST_START("a growing batch buffer leaves no PSK copy in the blocks it gives back");
	memset(filler, 'x', sizeof(filler));
	ASSERT_INT_EQ(al_buf_add(&b, marker, sizeof(marker) - 1, SIZE_MAX), 0);
	for (i = 0; i < 40; i++) /* 40 kB: several doublings from 4 kB */
		ASSERT_INT_EQ(al_buf_add(&b, filler, sizeof(filler), SIZE_MAX), 0);
	ASSERT_TRUE(memcmp(b.p, marker, sizeof(marker) - 1) == 0);
	ASSERT_TRUE(b.len == sizeof(marker) - 1 + 40 * sizeof(filler));
	ASSERT_INT_EQ(realloc_with_secret, 0);
	ASSERT_TRUE(frees_seen >= 3); /* the old blocks went through free(), cleansed */
	ASSERT_INT_EQ(free_with_secret, 0);
	al_buf_free(&b, 1);
	ASSERT_INT_EQ(free_with_secret, 0);
	TEST_DONE();
	TEST_SUMMARY();
}
