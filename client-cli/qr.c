/* SPDX-License-Identifier: MIT */
/*
 * QR codes of exported tunnels (docs/vpnctl.md, `vpnctl export`): libqrencode
 * makes the matrix; this file only draws it, twice from the same matrix and
 * the same quiet zone: as UTF-8 half blocks for a terminal (two modules per
 * character cell, like `qrencode -t UTF8`) and as a grey-scale PNG through
 * libpng's simplified API.  The matrix encodes a private key: it is cleansed
 * when freed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <png.h>
#include <qrencode.h>

#include "vpnctl.h"

/* The half blocks: which of the cell's two modules (top, bottom) are light. */
static const char *const half_blocks[4] = {
        " ",            /* both dark */
        "\xe2\x96\x84", /* bottom light: U+2584 LOWER HALF BLOCK */
        "\xe2\x96\x80", /* top light: U+2580 UPPER HALF BLOCK */
        "\xe2\x96\x88", /* both light: U+2588 FULL BLOCK */
};

int cli_qr_encode(const char *text, struct cli_qr **out)
{
	struct cli_qr *q;
	QRcode *code;
	size_t i, n;

	*out = NULL;
	/* Byte mode: the config goes in as it is, level L like wireguard-install.sh. */
	code = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
	if (!code)
		return errno == ERANGE || errno == EINVAL ? PV_EINVAL : PV_ENOMEM;
	n = (size_t)code->width * (size_t)code->width;
	q = calloc(1, sizeof(*q) + n);
	if (!q) {
		OPENSSL_cleanse(code->data, n);
		QRcode_free(code);
		return PV_ENOMEM;
	}
	q->width = code->width;
	for (i = 0; i < n; i++)
		q->dark[i] = code->data[i] & 1; /* libqrencode: bit 0 is the module's colour */
	OPENSSL_cleanse(code->data, n);
	QRcode_free(code);
	*out = q;
	return 0;
}

void cli_qr_free(struct cli_qr *q)
{
	if (q)
		OPENSSL_clear_free(q, sizeof(*q) + (size_t)q->width * (size_t)q->width);
}

int cli_qr_size(const struct cli_qr *q)
{
	return q->width + 2 * CLI_QR_QUIET;
}

int cli_qr_is_dark(const struct cli_qr *q, int x, int y)
{
	x -= CLI_QR_QUIET;
	y -= CLI_QR_QUIET;
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return 0; /* the quiet zone, and the row below an odd last one */
	return q->dark[(size_t)y * (size_t)q->width + (size_t)x];
}

int cli_qr_print(const struct cli_qr *q, FILE *f, int ansi)
{
	int size = cli_qr_size(q), x, y;

	for (y = 0; y < size; y += 2) {
		/* Light modules are the ink: on a terminal, bright white on black whatever its
		 * theme. */
		if (ansi)
			fputs("\033[40;97m", f);
		for (x = 0; x < size; x++)
			fputs(half_blocks[(!cli_qr_is_dark(q, x, y) << 1) |
			                  !cli_qr_is_dark(q, x, y + 1)],
			      f);
		if (ansi)
			fputs("\033[0m", f);
		fputc('\n', f);
	}
	return ferror(f) ? PV_EIO : 0;
}

int cli_qr_write_png(const struct cli_qr *q, FILE *f, int scale)
{
	png_image img;
	size_t side = (size_t)cli_qr_size(q) * (size_t)scale, x, y;
	png_bytep px = malloc(side * side);
	int ok;

	if (!px)
		return PV_ENOMEM;
	for (y = 0; y < side; y++)
		for (x = 0; x < side; x++)
			px[y * side + x] = cli_qr_is_dark(q, (int)(x / (size_t)scale),
			                                  (int)(y / (size_t)scale))
			                           ? 0
			                           : 255;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)side;
	img.height = (png_uint_32)side;
	img.format = PNG_FORMAT_GRAY;
	ok = png_image_write_to_stdio(&img, f, 0, px, (png_int_32)side, NULL);
	png_image_free(&img);
	OPENSSL_clear_free(px, side * side);
	return ok && fflush(f) == 0 ? 0 : PV_EIO;
}
