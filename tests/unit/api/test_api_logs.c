/* api logs: the logs call of a process on another host, answered by its
   owner (droverd's hub). An answer without an HTTP status is a 504, and
   its body is freed (it leaked; the ASan build's LeakSanitizer says so). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api_internal.h"
#include "clock.h"
#include "log.h"

/* Under AddressSanitizer the test asks LeakSanitizer itself: a leak in a
   test that passed does not fail it otherwise. */
#ifdef __has_feature
#if __has_feature(address_sanitizer)
#define WITH_LSAN 1
#endif
#endif
#ifdef __SANITIZE_ADDRESS__
#define WITH_LSAN 1
#endif
#ifdef WITH_LSAN
#include <sanitizer/lsan_interface.h>
#define LEAKED() __lsan_do_recoverable_leak_check()
#else
#define LEAKED() 0
#endif

static int answer_status;

static void
logs_at_once(void *ctx, const view_proc_t *p, json_t *query, view_logs_fn done, void *arg)
{
	json_decref(query);
	done(arg, answer_status, json_pack("{s:[s]}", "lines", "a line"), NULL);
}

/* GET path on api through a socket pair handed to MHD; the status. */
static unsigned
get(ev_t *ev, api_t *api, const char *path)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	char req[256], got[8192] = "";
	size_t len = 0;
	unsigned status = 0;
	int64_t end = clock_ms() + 5000;
	ssize_t n;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(MHD_add_connection(api->mhd, sv[1], (struct sockaddr *)&addr, sizeof(addr)),
		     MHD_YES);
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	cr_assert_eq(write(sv[0], req, strlen(req)), (ssize_t)strlen(req));
	while (clock_ms() < end) {
		ev_run_once(ev, 5);
		while ((n = read(sv[0], got + len, sizeof(got) - 1 - len)) > 0)
			len += (size_t)n;
		if (n == 0)
			break;
	}
	close(sv[0]);
	cr_assert_eq(sscanf(got, "HTTP/1.1 %u ", &status), 1, "no answer: %s", got);
	return status;
}

Test(api_logs, a_remote_answer_without_an_http_status_is_a_504)
{
	static const view_owner_t owner = {.logs = logs_at_once};
	api_config_t cfg = {.listen = "127.0.0.1:0", .name = "test"};
	view_proc_t p = {.name = "db:0",
			 .group = "db",
			 .host = "node-1",
			 .state = PROC_RUNNING,
			 .pid = 77,
			 .exit_code = -1,
			 .cpu_seconds = -1,
			 .rss_bytes = -1};
	char *err = NULL;
	ev_t *ev;
	view_t *view;
	api_t *api;

	log_set_level(DLOG_ERROR);
	cr_assert_not_null(ev = ev_new());
	cr_assert_not_null(view = view_new(&owner, NULL));
	cr_assert_eq(view_put(view, &p), 1);
	api = api_new(ev, view, &cfg, NULL, NULL, &err);
	cr_assert_not_null(api, "%s", err ? err : "");
	answer_status = 200;
	cr_assert_eq(get(ev, api, "/api/v1/processes/db:0/logs"), 200);
	answer_status = 0;
	cr_assert_eq(get(ev, api, "/api/v1/processes/db:0/logs"), 504);
	answer_status = 99;
	cr_assert_eq(get(ev, api, "/api/v1/processes/db:0/logs"), 504);
	api_destroy(&api);
	view_destroy(&view);
	ev_destroy(&ev);
	cr_assert_eq(LEAKED(), 0, "the answer without a status leaked");
}
