/* droverctl on input that is not what it expects: a negative count, an
   address of the wrong kind or none at all, and a worker's output holding
   terminal control sequences. Each is one line and the documented exit
   status, at once, and nothing a worker wrote drives the terminal. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
}

static double
s_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs `ENV droverctl ARGS` (shell text) with stderr into *err (caller
   frees); returns the exit status. */
static int ctl(const char *env, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
ctl(const char *env, char **err, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "DROVER_URL= DROVER_QUEUE_URL= %s '%s' %s 2>&1 >/dev/null", env,
		 drv_bin("droverctl"), args);
	return drv_sh(cmd, err);
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

Test(droverctl_input, a_negative_count_is_a_bad_count_not_an_option, .timeout = 30)
{
	char *err;

	cr_assert_eq(ctl("", &err, "-s 127.0.0.1:1 scale web -1"), 2);
	cr_assert_not_null(strstr(err, "scale wants a number of instances, not \"-1\""), "%s", err);
	cr_assert_null(strstr(err, "unknown option"), "%s", err);
	free(err);
	/* Options still go anywhere, and a value may look like a number. */
	cr_assert_eq(ctl("", &err, "scale web -1 -s 127.0.0.1:1"), 2);
	cr_assert_not_null(strstr(err, "not \"-1\""), "%s", err);
	free(err);
	cr_assert_eq(ctl("", &err, "-s 127.0.0.1:1 logs -n -5 web:0"), 2);
	cr_assert_not_null(strstr(err, "-n wants a number of lines, not \"-5\""), "%s", err);
	free(err);
	cr_assert_eq(ctl("", &err, "status --timeout"), 2);
	cr_assert_not_null(strstr(err, "option --timeout needs a value"), "%s", err);
	free(err);
}

Test(droverctl_input, a_bad_address_is_a_usage_error_said_at_once, .timeout = 60)
{
	static const struct {
		const char *env, *args, *says;
	} bad[] = {
	    {"", "-s ftp://127.0.0.1:21 status",
	     "droverctl: -s ftp://127.0.0.1:21: droverd's API is http://HOST:PORT, not ftp://\n"},
	    {"DROVER_URL=gopher://h:70", "status",
	     "droverctl: DROVER_URL gopher://h:70: droverd's API is http://HOST:PORT, not "
	     "gopher://\n"},
	    {"", "-s http: status",
	     "droverctl: -s http:: expected http://HOST:PORT or HOST:PORT\n"},
	    {"", "-s http:// status",
	     "droverctl: -s http://: expected http://HOST:PORT or HOST:PORT\n"},
	    {"", "-s 127.0.0.1:99999 status",
	     "droverctl: -s 127.0.0.1:99999: expected http://HOST:PORT or HOST:PORT\n"},
	    {"", "-s 'http://a b:1' reload",
	     "droverctl: -s http://a b:1: expected http://HOST:PORT or HOST:PORT\n"},
	    {"", "-q ipc:///tmp/q --authkey-file /nonexistent put jobs x",
	     "droverctl: -q ipc:///tmp/q: droverd's queues are tcp://HOST:PORT, not ipc://\n"},
	    {"", "-q tcp://127.0.0.1 --authkey-file /nonexistent get jobs",
	     "droverctl: -q tcp://127.0.0.1: expected tcp://HOST:PORT or HOST:PORT\n"},
	    {"DROVER_QUEUE_URL=tcp:", "--authkey-file /nonexistent get jobs",
	     "droverctl: DROVER_QUEUE_URL tcp:: expected tcp://HOST:PORT or HOST:PORT\n"},
	};
	char *err;
	double t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = s_now();
		cr_assert_eq(ctl(bad[i].env, &err, "%s", bad[i].args), 2, "%s %s: %s", bad[i].env,
			     bad[i].args, err);
		cr_assert_lt(s_now() - t, 2.0, "%s: %.1f s", bad[i].args, s_now() - t);
		cr_assert_str_eq(err, bad[i].says);
		free(err);
	}
	/* A queue address does not matter to an HTTP command, nor the
	   reverse. */
	cr_assert_eq(ctl("DROVER_QUEUE_URL=nonsense", &err, "-s 127.0.0.1:1 status"), 1);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	cr_assert_not_null(strstr(err, "cannot reach droverd at http://127.0.0.1:1"), "%s", err);
	free(err);
}

Test(droverctl_input, logs_escape_control_bytes_on_a_terminal_only, .fini = teardown,
     .timeout = 30)
{
	char cmd[2048], *out = NULL;

	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  w:\n"
				   "    command: \"printf 'red \\\\033[31mRED\\\\033[0m bell \\\\007 "
				   "title \\\\033]0;pwned\\\\007 csi \\\\302\\\\233 "
				   "tab\\\\there \\\\303\\\\251\\\\n'; exec sleep 3600\"\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "w:0", "RUNNING", 5000));
	snprintf(cmd, sizeof(cmd), "'%s' -s %s logs w:0", drv_bin("droverctl"), d.base);
	for (int i = 0; i < 100; i++) {
		free(out);
		cr_assert_eq(drv_sh(cmd, &out), 0);
		if (strstr(out, "tab") != NULL)
			break;
		drv_sleep_ms(50);
	}
	/* Piped: the bytes as the worker wrote them. */
	cr_assert_str_eq(out, "red \033[31mRED\033[0m bell \007 title \033]0;pwned\007 csi "
			      "\302\233 tab\there \303\251\n");
	free(out);
	/* On a terminal (script(1) gives it one): shown, not obeyed. */
	snprintf(cmd, sizeof(cmd), "TERM=xterm script -qec \"'%s' -s %s logs w:0\" /dev/null",
		 drv_bin("droverctl"), d.base);
	cr_assert_eq(drv_sh(cmd, &out), 0);
	cr_assert_not_null(strstr(out, "red ^[[31mRED^[[0m bell ^G title ^[]0;pwned^G csi <U+009B> "
				       "tab\there \303\251"),
			   "%s", out);
	cr_assert_null(strchr(out, '\033'), "%s", out);
	cr_assert_null(strchr(out, '\007'), "%s", out);
	free(out);
}
