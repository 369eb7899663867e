/* What droverd and drover-agent refuse so that their secrets stay secret:
   secret files that others may read. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
}

/* Runs droverd on the prepared directory for at most 10 s; its exit status
   and its output in *out. One that refuses to start exits at once. */
static int
s_droverd(char **out)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "timeout 10 %s -c %s 2>&1", drv_bin("droverd"), d.conf_path);
	return drv_sh(cmd, out);
}

/* out says "WHAT PATH: permissions MODE are too open: ..." and gives the fix. */
static void
s_assert_refused(const char *out, const char *what, const char *path, const char *mode,
		 const char *who)
{
	char want[800];

	snprintf(want, sizeof(want), "%s %s: permissions %s are too open: %s", what, path, mode,
		 who);
	cr_assert(strstr(out, want) != NULL, "wanted \"%s\" in:\n%s", want, out);
	snprintf(want, sizeof(want), "chmod 600 %s", path);
	cr_assert(strstr(out, want) != NULL, "wanted \"%s\" in:\n%s", want, out);
}

Test(secrets, a_token_file_that_others_may_read_is_refused_with_its_mode_and_the_fix,
     .fini = teardown, .timeout = 60)
{
	char *out = NULL;

	cr_assert_eq(drv_prepare(&d, "groups: {}\n"), 0);
	cr_assert_eq(chmod(d.token_path, 0644), 0);
	cr_assert_eq(s_droverd(&out), 78, "%s", out); /* EX_CONFIG */
	s_assert_refused(out, "token_file", d.token_path, "0644",
			 "group can read it, others can read it");
	free(out);
	cr_assert_eq(chmod(d.token_path, 0640), 0);
	cr_assert_eq(s_droverd(&out), 78, "%s", out);
	s_assert_refused(out, "token_file", d.token_path, "0640", "group can read it;");
	free(out);
	/* Private to its owner, even read-only: droverd runs. */
	cr_assert_eq(chmod(d.token_path, 0400), 0);
	cr_assert_eq(drv_launch(&d), 0);
}

Test(secrets, an_authkey_file_that_others_may_write_is_refused, .fini = teardown, .timeout = 60)
{
	char *out = NULL;

	cr_assert_eq(drv_prepare(&d, "queues:\n  q: {}\ngroups: {}\n"), 0);
	cr_assert_eq(chmod(d.authkey_path, 0602), 0);
	cr_assert_eq(s_droverd(&out), 78, "%s", out);
	s_assert_refused(out, "authkey_file", d.authkey_path, "0602", "others can write it;");
	/* The authkey is never shown, refused or not. */
	cr_assert_null(strstr(out, DRV_AUTHKEY), "%s", out);
	free(out);
	cr_assert_eq(chmod(d.authkey_path, 0600), 0);
	cr_assert_eq(drv_launch(&d), 0);
}

#ifdef DROVER_HAVE_AGENTS
/* droverctl keygen DIR --name NAME */
static void
s_keygen(const char *dir, const char *name)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s keygen %s --name %s > /dev/null", drv_bin("droverctl"), dir,
		 name);
	cr_assert_eq(drv_sh(cmd, NULL), 0);
}

Test(secrets, droverds_agent_key_that_others_may_read_is_refused, .fini = teardown, .timeout = 60)
{
	char keys[400], secret[500], *out = NULL;

	cr_assert_eq(drv_prepare(&d, "supervisor:\n"
				     "  state_dir: {DIR}/var\n"
				     "  http: { listen: '127.0.0.1:{PORT}' }\n"
				     "  agents: { listen: 'tcp://127.0.0.1:{QPORT}', "
				     "keys_dir: {DIR}/keys }\n"
				     "groups: {}\n"),
		     0);
	snprintf(keys, sizeof(keys), "%s/keys", d.dir);
	snprintf(secret, sizeof(secret), "%s/droverd.cert_secret", keys);
	s_keygen(keys, "droverd");
	cr_assert_eq(chmod(secret, 0644), 0);
	cr_assert_eq(s_droverd(&out), 78, "%s", out);
	s_assert_refused(out, "droverd's key pair", secret, "0644",
			 "group can read it, others can read it");
	free(out);
	cr_assert_eq(chmod(secret, 0600), 0);
	cr_assert_eq(drv_launch(&d), 0);
}

Test(secrets, an_agent_key_that_others_may_read_is_refused, .fini = teardown, .timeout = 60)
{
	char keys[400], secret[500], cmd[2048], *out = NULL;

	cr_assert_eq(drv_prepare(&d, "groups: {}\n"), 0);
	snprintf(keys, sizeof(keys), "%s/keys", d.dir);
	snprintf(secret, sizeof(secret), "%s/node1.cert_secret", keys);
	s_keygen(keys, "droverd");
	s_keygen(keys, "node1");
	snprintf(cmd, sizeof(cmd),
		 "cd %s && timeout 10 %s --check --connect tcp://127.0.0.1:1 --name node1 "
		 "--key %s --server-key %s/droverd.cert 2>&1",
		 d.dir, drv_bin("drover-agent"), secret, keys);
	cr_assert_eq(chmod(secret, 0660), 0);
	cr_assert_eq(drv_sh(cmd, &out), 1, "%s", out);
	s_assert_refused(out, "drover-agent: key", secret, "0660", "group can read and write it;");
	free(out);
	cr_assert_eq(chmod(secret, 0600), 0);
	cr_assert_eq(drv_sh(cmd, &out), 0, "%s", out);
	free(out);
}
#endif
