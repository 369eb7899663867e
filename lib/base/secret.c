/* The secret file reader. */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
s_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
s_wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

int
secret_file_read(const char *path, char *buf, size_t max, size_t *len, const char **why)
{
	struct stat st;
	size_t have = 0;
	ssize_t n;
	int fd, rc = 0;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		*why = strerror(errno);
		return -errno;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		*why = strerror(errno);
	} else if (S_ISDIR(st.st_mode)) {
		*why = "a directory, not a file";
		rc = -EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		rc = -EINVAL;
	}
	while (rc == 0 && have < max && (n = read(fd, buf + have, max - have)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			*why = strerror(errno);
			break;
		}
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	*len = have;
	return rc;
}

int
secret_read(const char *path, char **out, size_t *len, const char **why)
{
	char buf[SECRET_MAX + 2], *s, *e;
	size_t have = 0;
	int rc;

	*out = NULL;
	*len = 0;
	rc = secret_file_read(path, buf, sizeof(buf) - 1, &have, why);
	if (rc == 0) {
		/* Bytes, not a C string: a raw authkey may hold any byte. */
		for (s = buf; s < buf + have && s_space(*s); s++)
			;
		for (e = s; e < buf + have && *e != '\n' && *e != '\r'; e++)
			;
		if (e == buf + have && have > SECRET_MAX) {
			*why = "its first line is longer than 4096 bytes";
			rc = -E2BIG;
		} else {
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (e == s) {
				*why = "empty";
				rc = -ENODATA;
			} else if ((*out = malloc((size_t)(e - s) + 1)) == NULL) {
				*why = "out of memory";
				rc = -ENOMEM;
			} else {
				memcpy(*out, s, (size_t)(e - s));
				(*out)[e - s] = '\0';
				*len = (size_t)(e - s);
			}
		}
	}
	s_wipe(buf, sizeof(buf));
	return rc;
}

void
secret_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	s_wipe(s, len);
	free(s);
}

const char *
secret_strerror(int rc)
{
	switch (rc) {
	case -EISDIR:
		return "a directory, not a file";
	case -EINVAL:
		return "not a regular file";
	case -ENODATA:
		return "empty";
	case -E2BIG:
		return "its first line is longer than 4096 bytes";
	default:
		return strerror(-rc);
	}
}
