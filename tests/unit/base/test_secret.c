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

Test(secret, a_file_that_group_or_others_may_use_is_not_private)
{
	char *p = s_file("k\n", 2), msg[600], want[600];

	cr_assert_eq(chmod(p, 0600), 0);
	cr_assert_eq(secret_check_private(p, msg, sizeof(msg)), 0);
	cr_assert_eq(chmod(p, 0400), 0);
	cr_assert_eq(secret_check_private(p, msg, sizeof(msg)), 0);
	cr_assert_eq(chmod(p, 0644), 0);
	cr_assert_eq(secret_check_private(p, msg, sizeof(msg)), -EPERM);
	snprintf(want, sizeof(want),
		 "permissions 0644 are too open: group can read it, others can read it; a "
		 "secret must be private to its owner: chmod 600 %s",
		 p);
	cr_assert_str_eq(msg, want);
	cr_assert_eq(chmod(p, 0620), 0);
	cr_assert_eq(secret_check_private(p, msg, sizeof(msg)), -EPERM);
	cr_assert(strstr(msg, "0620 are too open: group can write it;") != NULL, "%s", msg);
	cr_assert_eq(chmod(p, 0601), 0);
	cr_assert_eq(secret_check_private(p, msg, sizeof(msg)), -EPERM);
	cr_assert(strstr(msg, "others can execute it;") != NULL, "%s", msg);
	unlink(p);
	/* What is not a file is for secret_read() to refuse, by name. */
	cr_assert_eq(secret_check_private("/dev/null", msg, sizeof(msg)), 0);
	cr_assert_eq(secret_check_private("/nonexistent/x", msg, sizeof(msg)), 0);
}
