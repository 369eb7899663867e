/* droverctl on input that is not what it expects: a worker's output
   holding terminal control sequences. Nothing a worker wrote drives the
   terminal. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
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
