/* harness: a real droverd in a temporary directory, spoken to over HTTP. */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
drv_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
drv_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

const char *
drv_bin(const char *name)
{
	static char buf[8][512];
	static int next;
	char *b = buf[next++ % 8];

	if (strcmp(name, "droverd") == 0)
		snprintf(b, 512, "%s/supervisor/droverd", DROVER_BUILD_DIR);
	else if (strcmp(name, "droverctl") == 0)
		snprintf(b, 512, "%s/client/droverctl/droverctl", DROVER_BUILD_DIR);
	else if (strcmp(name, "drover-agent") == 0)
		snprintf(b, 512, "%s/agent/drover-agent", DROVER_BUILD_DIR);
	else
		snprintf(b, 512, "%s/%s", DROVER_BUILD_DIR, name);
	return b;
}

/* Replaces every {PORT}, {QPORT} and {DIR} of in. Caller frees. */
static char *
s_subst(drv_t *d, const char *in)
{
	size_t cap = strlen(in) * 2 + 1024, n = 0;
	char *out = malloc(cap), num[16];
	const char *p = in, *rep;
	size_t rl, kl;

	while (*p) {
		rep = NULL;
		if (strncmp(p, "{PORT}", 6) == 0) {
			snprintf(num, sizeof(num), "%d", d->port);
			rep = num, kl = 6;
		} else if (strncmp(p, "{QPORT}", 7) == 0) {
			snprintf(num, sizeof(num), "%d", d->qport);
			rep = num, kl = 7;
		} else if (strncmp(p, "{DIR}", 5) == 0) {
			rep = d->dir, kl = 5;
		}
		rl = rep ? strlen(rep) : 1;
		if (n + rl + 1 > cap) {
			cap = (n + rl + 1) * 2;
			out = realloc(out, cap);
		}
		if (rep) {
			memcpy(out + n, rep, rl);
			n += rl;
			p += kl;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	return out;
}

static int
s_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int
drv_rewrite(drv_t *d, const char *yaml)
{
	char *body = s_subst(d, yaml), *full, authkey[400] = "";
	int rc;

	if (strncmp(yaml, "supervisor:", 11) == 0 || strstr(yaml, "\nsupervisor:") != NULL) {
		full = body;
	} else {
		if (strncmp(yaml, "queues:", 7) == 0 || strstr(yaml, "\nqueues:") != NULL)
			snprintf(authkey, sizeof(authkey), "    authkey_file: %s\n",
				 d->authkey_path);
		if (asprintf(&full,
			     "supervisor:\n"
			     "  name: test\n"
			     "  state_dir: %s/var\n"
			     "  http:\n"
			     "    listen: 127.0.0.1:%d\n"
			     "    token_file: %s\n"
			     "  queues:\n"
			     "    listen: tcp://127.0.0.1:%d\n"
			     "%s"
			     "%s",
			     d->dir, d->port, d->token_path, d->qport, authkey, body) < 0)
			return -1;
		free(body);
	}
	rc = s_write(d->conf_path, full);
	free(full);
	return rc;
}

int
drv_prepare(drv_t *d, const char *yaml)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/drover-test-XXXXXX");
	if (mkdtemp(d->dir) == NULL)
		return -1;
	snprintf(d->conf_path, sizeof(d->conf_path), "%s/drover.yaml", d->dir);
	snprintf(d->token_path, sizeof(d->token_path), "%s/api.token", d->dir);
	snprintf(d->authkey_path, sizeof(d->authkey_path), "%s/queue.key", d->dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s/droverd.log", d->dir);
	d->port = drv_free_port();
	do
		d->qport = drv_free_port();
	while (d->qport == d->port);
	snprintf(d->base, sizeof(d->base), "http://127.0.0.1:%d", d->port);
	/* Secrets are private, or droverd refuses them. */
	if (s_write(d->token_path, DRV_TOKEN "\n") != 0 ||
	    s_write(d->authkey_path, DRV_AUTHKEY "\n") != 0 || chmod(d->token_path, 0600) != 0 ||
	    chmod(d->authkey_path, 0600) != 0)
		return -1;
	return drv_rewrite(d, yaml);
}

static void
s_print_log(drv_t *d)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "tail -n 40 %s >&2", d->log_path);
	if (system(cmd) != 0)
		return;
}

int
drv_launch(drv_t *d)
{
	int fd, i, status;
	char *body = NULL;

	d->pid = fork();
	if (d->pid == 0) {
		fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		setpgid(0, 0);
		execl(drv_bin("droverd"), "droverd", "-v", "-c", d->conf_path, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			s_print_log(d);
			return -1;
		}
		if (drv_http(d, "GET", "/api/v1/status", NULL, false, &body) == 200) {
			free(body);
			return 0;
		}
		free(body);
		body = NULL;
		drv_sleep_ms(50);
	}
	s_print_log(d);
	return -1;
}

int
drv_start(drv_t *d, const char *yaml)
{
	if (drv_prepare(d, yaml) != 0)
		return -1;
	return drv_launch(d);
}

int
drv_stop(drv_t *d, int timeout_ms)
{
	int status, waited = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, SIGTERM);
	while (waited < timeout_ms) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			return status;
		}
		drv_sleep_ms(20);
		waited += 20;
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return -1;
}

void
drv_cleanup(drv_t *d)
{
	char cmd[400];

	if (d->pid > 0)
		drv_stop(d, 15000);
	if (d->dir[0] != '\0' && getenv("DROVER_KEEP_TEST_DIRS") == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", d->dir);
	}
	d->dir[0] = '\0';
}

struct buf {
	char *p;
	size_t n;
};

static size_t
s_collect(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t len = size * nmemb;
	char *np = realloc(b->p, b->n + len + 1);

	if (np == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, data, len);
	b->n += len;
	b->p[b->n] = '\0';
	return len;
}

int
drv_http(drv_t *d, const char *method, const char *path, const char *body, bool auth,
	 char **body_out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = {NULL, 0};
	char url[1024];
	long status = -1;

	if (c == NULL)
		return -1;
	snprintf(url, sizeof(url), "%s%s", d->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		h = curl_slist_append(h, "Content-Type: application/json");
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	if (auth)
		h = curl_slist_append(h, "Authorization: Bearer " DRV_TOKEN);
	if (h != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (body_out != NULL)
		*body_out = b.p ? b.p : strdup("");
	else
		free(b.p);
	return (int)status;
}

json_t *
drv_get_json(drv_t *d, const char *path)
{
	char *body = NULL;
	json_t *j = NULL;

	if (drv_http(d, "GET", path, NULL, false, &body) == 200)
		j = json_loads(body, 0, NULL);
	free(body);
	return j;
}

json_t *
drv_proc(drv_t *d, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/api/v1/processes/%s", name);
	return drv_get_json(d, path);
}

const char *
drv_state(drv_t *d, const char *name, char *buf, size_t len)
{
	json_t *p = drv_proc(d, name);
	const char *s = p ? json_string_value(json_object_get(p, "state")) : NULL;

	snprintf(buf, len, "%s", s ? s : "");
	json_decref(p);
	return buf;
}

bool
drv_wait_state(drv_t *d, const char *name, const char *state, int timeout_ms)
{
	char buf[32];
	int waited = 0;

	for (;;) {
		if (strcmp(drv_state(d, name, buf, sizeof(buf)), state) == 0)
			return true;
		if (waited >= timeout_ms)
			return false;
		drv_sleep_ms(20);
		waited += 20;
	}
}

pid_t
drv_pid(drv_t *d, const char *name)
{
	json_t *p = drv_proc(d, name);
	pid_t pid = p ? (pid_t)json_integer_value(json_object_get(p, "pid")) : 0;

	json_decref(p);
	return pid;
}

int
drv_sh(const char *cmd, char **out)
{
	FILE *f = popen(cmd, "r");
	struct buf b = {NULL, 0};
	char chunk[4096];
	size_t n;
	int status;

	if (f == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		s_collect(chunk, 1, n, &b);
	status = pclose(f);
	if (out != NULL)
		*out = b.p ? b.p : strdup("");
	else
		free(b.p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool
drv_alive(pid_t pid)
{
	char path[64], buf[512], *s;
	FILE *f;
	bool alive = false;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL && (s = strrchr(buf, ')')) != NULL)
		alive = s[2] != 'Z' && s[2] != 'X';
	fclose(f);
	return alive;
}

char *
drv_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, chunk[4096];
	size_t len = 0, n;
	FILE *m = open_memstream(&buf, &len);

	while (f != NULL && m != NULL && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	if (f != NULL)
		fclose(f);
	if (m != NULL)
		fclose(m);
	return buf != NULL ? buf : strdup("");
}
