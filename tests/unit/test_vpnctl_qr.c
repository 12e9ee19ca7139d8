/* SPDX-License-Identifier: MIT */
/*
 * QR codes of exported tunnels: the terminal's half blocks and the PNG
 * file draw the same matrix, quiet zone included (both are read back here
 * into modules and compared with each other and with libqrencode's).
 */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "vpnctl.h"

static const char config[] =
        "[Interface]\nPrivateKey = eLY6k1TaEaipiHXeqEy41wcS3pouw9gpsNwRuKwfRUM=\n"
        "Address = 10.7.0.2/24, fddd:2c4:2c4:2c4::2/64\nDNS = 1.1.1.1\n\n[Peer]\n"
        "PublicKey = 6SE8YL7RVDB63Ayzj48gLOnbVRSVDzUbaAPmgliijF8=\n"
        "PresharedKey = kT9nTqU0hZ0XhV9OXZ1Ggxp6o0kx9WmXHW7ggjdkdS8=\n"
        "AllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 203.0.113.12:51820\nPersistentKeepalive = 25\n";

/* The modules a terminal shows: one text row is two module rows; escapes skipped. */
static unsigned char *modules_from_text(const char *text, int size)
{
	unsigned char *m = calloc((size_t)size * (size_t)size, 1);
	const char *p = text;
	int x = 0, y = 0;

	ASSERT_TRUE(m != NULL);
	while (*p) {
		int top, bottom;

		if (*p == '\033') {
			p = strchr(p, 'm') + 1;
			continue;
		}
		if (*p == '\n') {
			ASSERT_INT_EQ(x, size);
			x = 0;
			y += 2;
			p++;
			continue;
		}
		if (*p == ' ') {
			top = bottom = 1;
			p++;
		} else {
			ASSERT_TRUE(strncmp(p, "\xe2\x96", 2) == 0);
			top = p[2] == '\x84';    /* lower half: only the bottom is light */
			bottom = p[2] == '\x80'; /* upper half: only the top is light */
			ASSERT_TRUE(p[2] == '\x84' || p[2] == '\x80' || p[2] == '\x88');
			p += 3;
		}
		ASSERT_INT_LT(x, size);
		m[(size_t)y * (size_t)size + (size_t)x] = (unsigned char)top;
		if (y + 1 < size)
			m[(size_t)(y + 1) * (size_t)size + (size_t)x] = (unsigned char)bottom;
		else
			ASSERT_INT_EQ(bottom, 0); /* the row below an odd last one is light */
		x++;
	}
	ASSERT_INT_EQ(y, size + (size & 1));
	return m;
}

static char *print_to_string(const struct cli_qr *q, int ansi)
{
	FILE *f = tmpfile();
	char *text;
	long n;

	ASSERT_TRUE(f != NULL);
	ASSERT_INT_EQ(cli_qr_print(q, f, ansi), 0);
	n = ftell(f);
	rewind(f);
	text = calloc((size_t)n + 1, 1);
	ASSERT_TRUE(text != NULL);
	ASSERT_INT_EQ(fread(text, 1, (size_t)n, f), n);
	fclose(f);
	return text;
}

/* The modules a PNG shows: the centre pixel of each scale x scale square, dark below 128. */
static unsigned char *modules_from_png(const struct cli_qr *q, int size)
{
	png_image img;
	unsigned char *px, *m = calloc((size_t)size * (size_t)size, 1);
	FILE *f = tmpfile();
	int x, y, s = CLI_QR_PNG_SCALE;

	ASSERT_TRUE(f != NULL && m != NULL);
	ASSERT_INT_EQ(cli_qr_write_png(q, f, s), 0);
	rewind(f);
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	ASSERT_TRUE(png_image_begin_read_from_stdio(&img, f));
	ASSERT_INT_EQ(img.width, size * s);
	ASSERT_INT_EQ(img.height, size * s);
	img.format = PNG_FORMAT_GRAY;
	px = malloc(PNG_IMAGE_SIZE(img));
	ASSERT_TRUE(px != NULL);
	ASSERT_TRUE(png_image_finish_read(&img, NULL, px, 0, NULL));
	for (y = 0; y < size; y++)
		for (x = 0; x < size; x++)
			m[y * size + x] =
			        px[(size_t)(y * s + s / 2) * img.width + (size_t)(x * s + s / 2)] <
			        128;
	free(px);
	fclose(f);
	return m;
}

static void test_terminal_and_png_draw_the_same_matrix(void)
{
	struct cli_qr *q = NULL;
	unsigned char *plain, *coloured, *png;
	char *t1, *t2;
	int size, x, y, dark = 0;

	TEST_START("the terminal's half blocks and the PNG are the same matrix as libqrencode's");
	ASSERT_INT_EQ(cli_qr_encode(config, &q), 0);
	size = cli_qr_size(q);
	ASSERT_INT_EQ(size, q->width + 2 * CLI_QR_QUIET);
	t1 = print_to_string(q, 0);
	t2 = print_to_string(q, 1);
	ASSERT_TRUE(strstr(t1, "\033") == NULL);
	ASSERT_TRUE(strstr(t2, "\033[40;97m") != NULL);
	plain = modules_from_text(t1, size);
	coloured = modules_from_text(t2, size);
	png = modules_from_png(q, size);
	for (y = 0; y < size; y++)
		for (x = 0; x < size; x++) {
			int want = cli_qr_is_dark(q, x, y);

			ASSERT_INT_EQ(plain[y * size + x], want);
			ASSERT_INT_EQ(coloured[y * size + x], want);
			ASSERT_INT_EQ(png[y * size + x], want);
			dark += want;
			if (x < CLI_QR_QUIET || y < CLI_QR_QUIET || x >= size - CLI_QR_QUIET ||
			    y >= size - CLI_QR_QUIET)
				ASSERT_INT_EQ(want, 0); /* the quiet zone */
		}
	/* A real code: a finder pattern's corner is dark, and far from every module is. */
	ASSERT_INT_EQ(cli_qr_is_dark(q, CLI_QR_QUIET, CLI_QR_QUIET), 1);
	ASSERT_TRUE(dark > q->width * q->width / 4 && dark < q->width * q->width * 3 / 4);
	free(plain);
	free(coloured);
	free(png);
	free(t1);
	free(t2);
	cli_qr_free(q);
	TEST_DONE();
}

static void test_too_long_text_is_refused(void)
{
	size_t n = 8000;
	char *big = malloc(n + 1);
	struct cli_qr *q = (struct cli_qr *)1;

	TEST_START("text beyond the largest QR version is refused, nothing returned");
	ASSERT_TRUE(big != NULL);
	memset(big, 'A', n);
	big[n] = '\0';
	ASSERT_INT_EQ(cli_qr_encode(big, &q), PV_EINVAL);
	ASSERT_TRUE(q == NULL);
	free(big);
	TEST_DONE();
}

int main(void)
{
	test_terminal_and_png_draw_the_same_matrix();
	test_too_long_text_is_refused();
	TEST_SUMMARY();
}
