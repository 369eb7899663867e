/* The hub's listening socket is the hub's own (hub_listen_fd): droverd keeps
   it across an upgrade in place, so a new hub made on a dup of it, after the
   old one is gone, gets the real drover-agent back on the same port with its
   workers' pids unchanged. Also: an inherited descriptor that is not a
   listener is refused with a clear message, and taken (closed). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "conf.h"
#include "ev.h"
#include "harness.h"
#include "hub.h"
#include "log.h"
#include "view.h"

static char s_dir[256];
static pid_t s_agent;

static void
teardown(void)
{
	char cmd[300];
	int st;

	if (s_agent > 0) {
		kill(s_agent, SIGTERM);
		waitpid(s_agent, &st, 0);
		s_agent = 0;
	}
	if (s_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s_dir);
		drv_sh(cmd, NULL);
		s_dir[0] = '\0';
	}
}

/* A conf with a hub on a free port, keys_dir holding node1's cert, and a
   group of two sleeps placed on node1. */
static conf_t *
s_conf(int port)
{
	char yaml[1024], cmd[600], *errs = NULL;
	conf_t *c = NULL;

	snprintf(s_dir, sizeof(s_dir), "/tmp/drover-hub-listen-XXXXXX");
	cr_assert_not_null(mkdtemp(s_dir));
	snprintf(cmd, sizeof(cmd), "'%s' keygen '%s/keys' --name node1 >/dev/null",
		 drv_bin("droverctl"), s_dir);
	cr_assert_eq(drv_sh(cmd, NULL), 0, "%s", cmd);
	snprintf(yaml, sizeof(yaml),
		 "supervisor:\n"
		 "  state_dir: %s/var\n"
		 "  agents: { listen: \"tcp://127.0.0.1:%d\", keys_dir: %s/keys, heartbeat: "
		 "200ms }\n"
		 "groups:\n"
		 "  web:\n"
		 "    command: [sleep, '1000']\n"
		 "    instances: 2\n"
		 "    start_timeout: 0s\n"
		 "    hosts: [node1]\n",
		 s_dir, port, s_dir);
	cr_assert_eq(conf_parse_string(yaml, strlen(yaml), "hub.yaml", s_dir, &c, &errs), 0, "%s",
		     errs ? errs : "");
	return c;
}

static void
s_start_agent(int port)
{
	char url[64], key[320], server[320], state[320];

	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	snprintf(key, sizeof(key), "%s/keys/node1.cert_secret", s_dir);
	snprintf(server, sizeof(server), "%s/keys/droverd.cert", s_dir);
	snprintf(state, sizeof(state), "%s/agent", s_dir);
	if ((s_agent = fork()) == 0) {
		execl(drv_bin("drover-agent"), "drover-agent", "--connect", url, "--name", "node1",
		      "--key", key, "--server-key", server, "--state-dir", state, (char *)NULL);
		_exit(127);
	}
	cr_assert_gt(s_agent, 0);
}

/* Runs the loop until both instances are RUNNING on node1 in view (up to
   timeout_ms); their pids into pids. */
static bool
s_wait_running(ev_t *ev, view_t *v, pid_t pids[2], int timeout_ms)
{
	int64_t end = clock_ms() + timeout_ms;
	const view_proc_t *p0, *p1;

	while (clock_ms() < end) {
		ev_run_once(ev, 50);
		p0 = view_find(v, "web:0");
		p1 = view_find(v, "web:1");
		if (p0 != NULL && p1 != NULL && p0->state == PROC_RUNNING &&
		    p1->state == PROC_RUNNING && p0->pid > 0 && p1->pid > 0) {
			pids[0] = p0->pid;
			pids[1] = p1->pid;
			return true;
		}
	}
	return false;
}

static int
s_port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		return -1;
	return ntohs(sa.sin_port);
}

Test(hub_listen, a_new_hub_on_a_dup_of_the_socket_gets_the_agent_back_with_the_same_pids,
     .fini = teardown, .timeout = 60)
{
	int port = drv_free_port(), fd, kept;
	conf_t *conf = s_conf(port);
	ev_t *ev = ev_new();
	view_t *v = view_new(NULL, NULL);
	hub_t *h;
	char *err = NULL;
	pid_t before[2], after[2];

	log_set_level(DLOG_WARN);
	cr_assert_not_null(ev);
	cr_assert_not_null(v);
	h = hub_new(ev, v, conf, -1, NULL, NULL, &err);
	cr_assert_not_null(h, "%s", err ? err : "");
	fd = hub_listen_fd(h);
	cr_assert(fd >= 0);
	cr_assert_eq(s_port_of(fd), port);
	cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC,
		     "the kept socket is close-on-exec until droverd hands it on");

	s_start_agent(port);
	cr_assert(s_wait_running(ev, v, before, 15000), "the agent's workers never ran");
	cr_assert(drv_alive(before[0]) && drv_alive(before[1]));

	/* droverd's upgrade: the descriptor stays, everything else goes. */
	kept = dup(fd);
	cr_assert(kept >= 0);
	hub_destroy(&h);
	view_destroy(&v);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "hub_destroy closes its socket");
	drv_sleep_ms(300); /* the agent sees its connection drop and dials again */
	v = view_new(NULL, NULL);
	h = hub_new(ev, v, conf, kept, NULL, NULL, &err);
	cr_assert_not_null(h, "%s", err ? err : "");
	cr_assert_eq(hub_listen_fd(h), kept);
	cr_assert(s_wait_running(ev, v, after, 15000), "the agent never came back");
	cr_assert_eq(after[0], before[0], "web:0 was restarted: pid %d then %d", (int)before[0],
		     (int)after[0]);
	cr_assert_eq(after[1], before[1], "web:1 was restarted: pid %d then %d", (int)before[1],
		     (int)after[1]);

	hub_destroy(&h);
	view_destroy(&v);
	ev_destroy(&ev);
	conf_free(&conf);
}

Test(hub_listen, a_descriptor_that_is_not_a_listener_is_refused_and_closed, .fini = teardown,
     .timeout = 30)
{
	int port = drv_free_port(), fd = socket(AF_INET, SOCK_STREAM, 0);
	conf_t *conf = s_conf(port);
	ev_t *ev = ev_new();
	view_t *v = view_new(NULL, NULL);
	char *err = NULL;

	log_set_level(DLOG_ERROR);
	cr_assert(fd >= 0);
	cr_assert_null(hub_new(ev, v, conf, fd, NULL, NULL, &err));
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, "not a listening socket"), "%s", err);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the hub takes the descriptor, also on failure");
	free(err);
	view_destroy(&v);
	ev_destroy(&ev);
	conf_free(&conf);
}
