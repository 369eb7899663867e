/* The one reader of secret files: what it takes and what it refuses. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

static char *
s_file(const char *text, size_t len)
{
	static char path[] = "/tmp/drover-secret-XXXXXX";
	int fd;

	strcpy(path, "/tmp/drover-secret-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(secret, first_line_without_the_space_around_it)
{
	char *s, *p = s_file(" \n\ttok en \r\nnext\n", 17);
	const char *why = NULL;
	size_t n;

	cr_assert_eq(secret_read(p, &s, &n, &why), 0);
	cr_assert_eq(n, 6);
	cr_assert_str_eq(s, "tok en");
	secret_free(s, n);
	unlink(p);
}

Test(secret, a_directory_a_device_and_an_empty_file_are_refused_by_name)
{
	char *s, *p = s_file(" \n\n", 3), dir[] = "/tmp/drover-secretdir-XXXXXX";
	const char *why = NULL;
	size_t n;

	cr_assert_eq(secret_read(p, &s, &n, &why), -ENODATA);
	cr_assert_str_eq(why, "empty");
	unlink(p);
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(secret_read(dir, &s, &n, &why), -EISDIR);
	cr_assert_str_eq(why, "a directory, not a file");
	rmdir(dir);
	cr_assert_eq(secret_read("/dev/zero", &s, &n, &why), -EINVAL);
	cr_assert_str_eq(why, "not a regular file");
	cr_assert_eq(secret_read("/nonexistent/x", &s, &n, &why), -ENOENT);
	cr_assert_null(s);
}

Test(secret, a_first_line_too_long_is_refused)
{
	size_t len = SECRET_MAX + 10, n;
	char *text = malloc(len), *s, *p;
	const char *why = NULL;

	memset(text, 'k', len);
	p = s_file(text, len);
	cr_assert_eq(secret_read(p, &s, &n, &why), -E2BIG);
	unlink(p);
	free(text);
}
