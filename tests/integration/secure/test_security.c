/* What droverd and drover-agent refuse so that their secrets stay secret:
   secret files that others may read, and guessed tokens. docs/security.md
   says why. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static drv_t d;

static void
teardown(void)
{
	drv_cleanup(&d);
}

static int64_t
s_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* droverd --check on the prepared directory: its exit status, its output. */
static int
s_check(char **out)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "timeout 10 %s --check -c %s 2>&1", drv_bin("droverd"),
		 d.conf_path);
	return drv_sh(cmd, out);
}

/* What droverd refuses to start with, --check refuses with the same words:
   an operator who checks a file before a restart learns then, not at the
   restart. */
Test(check, refuses_what_the_start_refuses_and_passes_what_it_runs, .fini = teardown,
     .timeout = 120)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
	    {"supervisor:\n  http: { listen: '127.0.0.1:{PORT}' }\n  state_dir: '{DIR}/var'\n"
	     "queues:\n  q: {}\ngroups: {}\n",
	     "supervisor.queues.authkey_file is not set: the queues need a shared authkey"},
	    {"supervisor:\n  http: { listen: '0.0.0.0:{PORT}' }\n  state_dir: '{DIR}/var'\n"
	     "groups: {}\n",
	     "refusing to listen on 0.0.0.0:"},
	    {"supervisor:\n  http: { listen: '127.0.0.1:{PORT}' }\n  state_dir: '{DIR}/var'\n"
	     "groups:\n  web: { command: [sleep, '9'], hosts: [local, node1] }\n",
	     "groups.web.hosts: node1 is an agent, but supervisor.agents.keys_dir is not set"},
	    {"supervisor:\n  http: { listen: '127.0.0.1:{PORT}' }\n  state_dir: '{DIR}/var'\n"
	     "  agents: { keys_dir: '{DIR}/keys' }\n"
	     "groups:\n  web: { command: [sleep, '9'], hosts: [node1, -node2] }\n",
	     "groups.web.hosts: \"-node2\" cannot be an agent's name"},
	    {"supervisor:\n  http: { listen: '127.0.0.1:{PORT}' }\n  state_dir: '{DIR}/var'\n"
	     "groups:\n  web: { command: [sleep, '9'], hosts: { labels: { role: w } } }\n",
	     "groups.web.hosts: placed by labels on agents, but supervisor.agents.keys_dir is "
	     "not set"},
	};
	char *out = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(drv_prepare(&d, cases[i].yaml), 0);
		cr_assert_eq(s_check(&out), 1, "case %zu: %s", i, out);
		cr_assert(strstr(out, cases[i].want) != NULL, "case %zu: %s", i, out);
		cr_assert(strstr(out, d.conf_path) != NULL, "case %zu names the file: %s", i, out);
		free(out);
		cr_assert_eq(s_droverd(&out), 78, "case %zu: %s", i, out); /* EX_CONFIG */
		cr_assert(strstr(out, cases[i].want) != NULL, "case %zu: %s", i, out);
		free(out);
		drv_cleanup(&d);
	}
	/* A secret others may read: the same words as at the start. */
	cr_assert_eq(drv_prepare(&d, "queues:\n  q: {}\ngroups: {}\n"), 0);
	cr_assert_eq(chmod(d.authkey_path, 0644), 0);
	cr_assert_eq(s_check(&out), 1, "%s", out);
	s_assert_refused(out, "authkey_file", d.authkey_path, "0644",
			 "group can read it, others can read it");
	cr_assert_null(strstr(out, DRV_AUTHKEY), "%s", out);
	free(out);
	/* Fixed: --check passes it, and droverd runs it. */
	cr_assert_eq(chmod(d.authkey_path, 0600), 0);
	cr_assert_eq(s_check(&out), 0, "%s", out);
	cr_assert(strstr(out, ": OK (0 groups, 1 queues)") != NULL, "%s", out);
	free(out);
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

/* ---- bad tokens ---- */

static void
start(void)
{
	cr_assert_eq(drv_start(&d, "groups:\n"
				   "  db:\n"
				   "    command: [sleep, '3600']\n"
				   "    start_timeout: 0s\n"),
		     0);
	cr_assert(drv_wait_state(&d, "db:0", "RUNNING", 10000));
}

/* One request to the API from the local address src (any of 127.0.0.0/8),
   with "Authorization: auth" unless auth is NULL. Returns the status (-1:
   no answer within 5 s) and the Retry-After header's value in
   *retry_after (0 when none). */
static int
s_req(const char *src, const char *method, const char *path, const char *auth, int *retry_after)
{
	struct sockaddr_in sa = {.sin_family = AF_INET}, from = {.sin_family = AF_INET};
	char req[1024], buf[4096], *h;
	size_t got = 0;
	int64_t deadline = s_now_ms() + 5000;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1, n;
	struct pollfd p;
	ssize_t k;

	if (retry_after != NULL)
		*retry_after = 0;
	cr_assert_geq(fd, 0);
	inet_pton(AF_INET, src, &from.sin_addr);
	cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0, "bind %s", src);
	sa.sin_port = htons((uint16_t)d.port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	n = snprintf(req, sizeof(req),
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n"
		     "Content-Length: 0\r\n%s%s%s\r\n",
		     method, path, d.port, auth ? "Authorization: " : "", auth ? auth : "",
		     auth ? "\r\n" : "");
	cr_assert_eq(write(fd, req, (size_t)n), n);
	p.fd = fd;
	p.events = POLLIN;
	while (got < sizeof(buf) - 1) {
		int64_t left = deadline - s_now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if ((k = read(fd, buf + got, sizeof(buf) - 1 - got)) <= 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	buf[got] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	if (retry_after != NULL && (h = strcasestr(buf, "\r\nRetry-After:")) != NULL)
		*retry_after = atoi(h + 14);
	return status;
}

#define BAD "Bearer not-the-token"
#define GOOD "Bearer " DRV_TOKEN

Test(api_auth, bad_tokens_from_one_address_get_429_for_a_while, .fini = teardown, .timeout = 120)
{
	int i, retry = 0;
	int64_t t0;
	pid_t pid;
	char *log;

	start();
	pid = drv_pid(&d, "db:0");
	for (i = 0; i < 10; i++)
		cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/processes/db:0/stop", BAD, NULL),
			     401, "bad token %d", i + 1);
	/* Now even the right token gets no answer but "later", and at once:
	   a guess cannot tell right from wrong. */
	t0 = s_now_ms();
	cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/processes/db:0/stop", GOOD, &retry), 429);
	cr_assert_lt(s_now_ms() - t0, 3000);
	cr_assert(retry >= 1 && retry <= 30, "Retry-After: %d", retry);
	cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", BAD, NULL), 429);
	cr_assert_eq(drv_pid(&d, "db:0"), pid, "a refused call changed something");
	/* Reading needs no token and goes on. */
	cr_assert_eq(s_req("127.0.0.1", "GET", "/api/v1/status", NULL, NULL), 200);
	log = drv_slurp(d.log_path);
	cr_assert(strstr(log, "10 bad tokens from 127.0.0.1") != NULL, "%s", log);
	cr_assert_null(strstr(log, DRV_TOKEN), "the token is in the log");
	free(log);
	/* Once Retry-After has passed, the right token works again. */
	drv_sleep_ms(retry * 1000 + 500);
	cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", GOOD, NULL), 200);
}

Test(api_auth, other_addresses_and_calls_without_a_token_are_not_counted, .fini = teardown,
     .timeout = 60)
{
	int i, retry = 0;

	start();
	for (i = 0; i < 10; i++)
		cr_assert_eq(s_req("127.0.0.2", "POST", "/api/v1/reload", BAD, NULL), 401);
	cr_assert_eq(s_req("127.0.0.2", "POST", "/api/v1/reload", GOOD, &retry), 429);
	cr_assert_gt(retry, 0);
	/* Another address is not refused. */
	cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", GOOD, &retry), 200);
	cr_assert_eq(retry, 0);
	/* Asking without any token guesses nothing (a browser before its user
	   gave the token): never refused for it. */
	for (i = 0; i < 20; i++)
		cr_assert_eq(s_req("127.0.0.3", "POST", "/api/v1/reload", NULL, NULL), 401);
	cr_assert_eq(s_req("127.0.0.3", "POST", "/api/v1/reload", GOOD, NULL), 200);
}

Test(api_auth, a_good_token_forgets_the_bad_ones_before, .fini = teardown, .timeout = 60)
{
	int i;

	start();
	for (i = 0; i < 9; i++)
		cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", BAD, NULL), 401);
	cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", GOOD, NULL), 200);
	for (i = 0; i < 9; i++)
		cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", BAD, NULL), 401);
	cr_assert_eq(s_req("127.0.0.1", "POST", "/api/v1/reload", GOOD, NULL), 200);
}
