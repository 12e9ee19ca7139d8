/* SPDX-License-Identifier: MIT */
/* Clocks and small-file reading (with the permission check secrets need) and writing. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "pv.h"

uint64_t pv_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t pv_now_ms(void)
{
	return pv_now_us() / 1000u;
}

int pv_file_read(char **out, size_t *len, const char *path, size_t max, int secret)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, r = PV_EIO;

	*out = NULL;
	if (len)
		*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return errno == ENOENT ? PV_ENOTFOUND : PV_EIO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if (secret && (st.st_mode & 077)) {
		r = PV_EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		r = PV_EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = PV_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
	r = 0;
out:
	if (buf && secret)
		OPENSSL_clear_free(buf, (size_t)st.st_size + 1);
	else
		free(buf);
	close(fd);
	return r;
}

int pv_line_next(const char *text, size_t len, size_t *pos, char *line, size_t cap)
{
	const char *nl;
	size_t n;

	if (*pos >= len)
		return 0;
	nl = memchr(text + *pos, '\n', len - *pos);
	n = nl ? (size_t)(nl - (text + *pos)) : len - *pos;
	if (n >= cap || memchr(text + *pos, '\0', n))
		return PV_EINVAL;
	memcpy(line, text + *pos, n);
	line[n] = '\0';
	*pos += n + (nl ? 1 : 0);
	return 1;
}

int pv_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PV_EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
