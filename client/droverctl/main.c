/* droverctl: the command line of drover. Process commands go to droverd's
   HTTP API (SPEC 4) with libcurl; queue commands speak the queue protocol
   through libdrover. Exit 0 on success, 1 when the action failed, 2 for a
   usage error; a failure is one line on stderr. */
#include <ctype.h>
#include <curl/curl.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "units.h"

#define DEFAULT_SERVER "http://127.0.0.1:9170"
#define DEFAULT_QUEUE "tcp://127.0.0.1:9172"

void
ctl_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("droverctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
ctl_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

static const char s_help[] =
	"usage: droverctl [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Controls droverd through its HTTP API, and puts and gets queue messages.\n"
	"\n"
	"Process commands (HTTP API):\n"
	"  status [NAME|GROUP]              processes: state, pid, uptime, restarts, CPU, memory\n"
	"  start NAME|GROUP|all             start, and wait until RUNNING\n"
	"  stop NAME|GROUP|all              stop, and wait until stopped\n"
	"  restart NAME|GROUP|all [--rolling]\n"
	"                                   restart (--rolling: one instance at a time)\n"
	"  signal SIG NAME|GROUP            send a signal (HUP, USR1, TERM, ...)\n"
	"  reload                           re-read droverd's configuration file\n"
	"  upgrade                          re-execute droverd's binary (a new version),\n"
	"                                   keeping every process, queue and connection\n"
	"  scale GROUP N                    run N instances of GROUP\n"
	"  logs [-f] [-n N] [--stderr] NAME last lines of a process's output; -f follows\n"
	"  agents                           remote agents\n"
	"  queues                           queues: size, in flight, consumers, totals\n"
	"  keygen DIR [--name NAME] [--force]\n"
	"                                   a CURVE key pair for an agent or for droverd\n"
	"\n"
	"Queue commands (queue protocol, encrypted with the authkey):\n"
	"  put QUEUE DATA|-                 put one message (- reads it from stdin)\n"
	"  get QUEUE [--timeout S] [--no-ack]\n"
	"                                   take one message, print its body\n"
	"\n"
	"NAME is a process (web:2), GROUP a group (web); all means every group.\n"
	"\n"
	"Options:\n"
	"  -s, --server URL       droverd's API (default $DROVER_URL or " DEFAULT_SERVER ")\n"
	"      --token-file F     bearer token for actions (default $DROVER_TOKEN_FILE)\n"
	"      --json             print the API's JSON instead of tables\n"
	"      --no-color         no colours (also when NO_COLOR is set or not a terminal)\n"
	"  -q, --queue URL        queue endpoint (default $DROVER_QUEUE_URL or " DEFAULT_QUEUE ")\n"
	"      --authkey-file F   queue authkey (default $DROVER_AUTHKEY_FILE)\n"
	"  -f, --follow           logs: keep printing new lines\n"
	"  -n, --lines N          logs: how many last lines (default 20)\n"
	"      --stderr           logs: the stderr stream\n"
	"      --rolling          restart a group one instance at a time\n"
	"      --timeout S        start/stop/restart: wait at most S seconds (default 30);\n"
	"                         put: while the queue is full (default 10);\n"
	"                         get: while it is empty (default: forever)\n"
	"      --no-wait          start/stop/restart: return once droverd took the request\n"
	"      --no-ack           get: print the message and leave it in the queue\n"
	"  -h, --help             this help\n"
	"  -V, --version          droverctl's version\n"
	"\n"
	"Exit status: 0 success, 1 the action failed (get: nothing arrived in time),\n"
	"2 usage error.\n";

static const struct {
	const char *cmd;
	const char *args;
} s_usages[] = {
	{"status", "status [NAME|GROUP]"},
	{"start", "start NAME|GROUP|all [--no-wait] [--timeout S]"},
	{"stop", "stop NAME|GROUP|all [--no-wait] [--timeout S]"},
	{"restart", "restart NAME|GROUP|all [--rolling] [--no-wait] [--timeout S]"},
	{"signal", "signal SIG NAME|GROUP"},
	{"reload", "reload"},
	{"upgrade", "upgrade [--no-wait] [--timeout S]"},
	{"scale", "scale GROUP N"},
	{"logs", "logs [-f] [-n N] [--stderr] NAME"},
	{"agents", "agents"},
	{"queues", "queues"},
	{"keygen", "keygen DIR [--name NAME] [--force]"},
	{"put", "put QUEUE DATA|- [--timeout S]"},
	{"get", "get QUEUE [--timeout S] [--no-ack]"},
	{NULL, NULL},
};

int
ctl_usage(const char *cmd)
{
	for (int i = 0; cmd != NULL && s_usages[i].cmd != NULL; i++)
		if (strcmp(cmd, s_usages[i].cmd) == 0) {
			fprintf(stderr, "usage: droverctl [OPTIONS] %s\n", s_usages[i].args);
			return CTL_USAGE;
		}
	fprintf(stderr, "usage: droverctl [OPTIONS] COMMAND [ARGS]  (droverctl --help for the "
			"commands)\n");
	return CTL_USAGE;
}

/* Options that belong to one command; the rest are global. */
enum {
	O_FOLLOW = 1 << 0,
	O_LINES = 1 << 1,
	O_STDERR = 1 << 2,
	O_ROLLING = 1 << 3,
	O_NOWAIT = 1 << 4,
	O_TIMEOUT = 1 << 5,
	O_NOACK = 1 << 6,
	O_NAME = 1 << 7,
	O_FORCE = 1 << 8,
};

static const struct {
	unsigned bit;
	const char *name;
} s_optnames[] = {
	{O_FOLLOW, "--follow"},	  {O_LINES, "--lines"},	  {O_STDERR, "--stderr"},
	{O_ROLLING, "--rolling"}, {O_NOWAIT, "--no-wait"}, {O_TIMEOUT, "--timeout"},
	{O_NOACK, "--no-ack"},	  {O_NAME, "--name"},	  {O_FORCE, "--force"},
};

typedef int (*cmd_fn)(ctl_t *c, int argc, char **argv);

static const struct {
	const char *name;
	cmd_fn fn;
	unsigned opts;
} s_cmds[] = {
	{"status", cmd_status, 0},
	{"start", NULL, O_NOWAIT | O_TIMEOUT},
	{"stop", NULL, O_NOWAIT | O_TIMEOUT},
	{"restart", NULL, O_NOWAIT | O_TIMEOUT | O_ROLLING},
	{"signal", cmd_signal, 0},
	{"reload", cmd_reload, 0},
	{"upgrade", cmd_upgrade, O_NOWAIT | O_TIMEOUT},
	{"scale", cmd_scale, 0},
	{"logs", cmd_logs, O_FOLLOW | O_LINES | O_STDERR},
	{"agents", cmd_agents, 0},
	{"queues", cmd_queues, 0},
	{"keygen", cmd_keygen, O_NAME | O_FORCE},
	{"put", cmd_put, O_TIMEOUT},
	{"get", cmd_get, O_TIMEOUT | O_NOACK},
	{NULL, NULL, 0},
};

/* Seconds as "2.5", "10" or a duration "500ms", "1m"; -1 when invalid. */
static double
s_seconds(const char *s)
{
	char *end;
	double v;
	int64_t ms;

	v = strtod(s, &end);
	if (end != s && *end == '\0' && v >= 0 && v < 1e9)
		return v;
	if (units_duration_ms(s, &ms) == 0)
		return (double)ms / 1000.0;
	return -1;
}

/* True when a[0..n) is HOST:PORT, [V6]:PORT, or with port_optional HOST
   or [V6] alone: a non-empty host of name characters and a port 1-65535. */
static bool
s_hostport_ok(const char *a, size_t n, bool port_optional)
{
	const char *colon, *host = a;
	size_t hn, i;
	long port;

	if (n > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', n);

		if (close == NULL || close == a + 1)
			return false;
		for (i = 1; a + i < close; i++)
			if (strchr("0123456789abcdefABCDEF:.%", a[i]) == NULL)
				return false;
		colon = close + 1 < a + n ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return false;
	} else {
		colon = memrchr(a, ':', n);
		hn = colon ? (size_t)(colon - a) : n;
		if (hn == 0)
			return false;
		for (i = 0; i < hn; i++)
			if (!isalnum((unsigned char)host[i]) && strchr(".-_", host[i]) == NULL)
				return false;
	}
	if (colon == NULL)
		return port_optional;
	colon++;
	if (colon == a + n || (size_t)(a + n - colon) > 5)
		return false;
	for (port = 0; colon < a + n; colon++) {
		if (!isdigit((unsigned char)*colon))
			return false;
		port = port * 10 + (*colon - '0');
	}
	return port >= 1 && port <= 65535;
}

/* The URL of droverd's API from what -s (or DROVER_URL, named by what)
   says: "HOST:PORT" gets http:// in front, http:// and https:// URLs are
   taken with their HOST[:PORT][/PATH], a trailing "/" goes. Anything else is
   a usage error said in one line, before any connection is tried (NULL).
   Caller frees. */
static char *
s_server_url(const char *s, const char *what)
{
	const char *sep = strstr(s, "://"), *auth = sep ? sep + 3 : s;
	size_t n = strcspn(auth, "/?#");
	char *u;

	if (sep != NULL && !((sep - s == 4 && strncasecmp(s, "http", 4) == 0) ||
			     (sep - s == 5 && strncasecmp(s, "https", 5) == 0))) {
		ctl_err("%s %s: droverd's API is http://HOST:PORT, not %.*s://", what, s,
			(int)(sep - s), s);
		return NULL;
	}
	if (!s_hostport_ok(auth, n, sep != NULL) || (sep == NULL && auth[n] != '\0')) {
		ctl_err("%s %s: expected http://HOST:PORT or HOST:PORT", what, s);
		return NULL;
	}
	if (sep == NULL) {
		if (asprintf(&u, "http://%s", s) < 0)
			return NULL;
	} else if ((u = strdup(s)) == NULL) {
		return NULL;
	}
	n = strlen(u);
	while (n > 0 && u[n - 1] == '/')
		u[--n] = '\0';
	return u;
}

/* The queue endpoint from what -q (or DROVER_QUEUE_URL) says:
   tcp://HOST:PORT, or HOST:PORT. NULL after one line, as above. */
static char *
s_queue_url(const char *s, const char *what)
{
	const char *sep = strstr(s, "://"), *auth = sep ? sep + 3 : s;
	char *u;

	if (sep != NULL && !(sep - s == 3 && strncasecmp(s, "tcp", 3) == 0)) {
		ctl_err("%s %s: droverd's queues are tcp://HOST:PORT, not %.*s://", what, s,
			(int)(sep - s), s);
		return NULL;
	}
	if (!s_hostport_ok(auth, strlen(auth), false)) {
		ctl_err("%s %s: expected tcp://HOST:PORT or HOST:PORT", what, s);
		return NULL;
	}
	if (asprintf(&u, "tcp://%s", auth) < 0)
		return NULL;
	return u;
}

static bool
s_want_colour(bool disabled)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	if (disabled || (nc != NULL && nc[0] != '\0'))
		return false;
	if (term != NULL && strcmp(term, "dumb") == 0)
		return false;
	return isatty(STDOUT_FILENO);
}

static const char *
s_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

#define S_SHORTOPTS ":s:q:fn:hV"

static const struct option s_longopts[] = {
	{"server", required_argument, NULL, 's'},
	{"token-file", required_argument, NULL, 'T'},
	{"json", no_argument, NULL, 'J'},
	{"no-color", no_argument, NULL, 'C'},
	{"no-colour", no_argument, NULL, 'C'},
	{"queue", required_argument, NULL, 'q'},
	{"authkey-file", required_argument, NULL, 'K'},
	{"follow", no_argument, NULL, 'f'},
	{"lines", required_argument, NULL, 'n'},
	{"tail", required_argument, NULL, 'n'},
	{"stderr", no_argument, NULL, 'E'},
	{"rolling", no_argument, NULL, 'R'},
	{"no-wait", no_argument, NULL, 'W'},
	{"timeout", required_argument, NULL, 't'},
	{"no-ack", no_argument, NULL, 'A'},
	{"name", required_argument, NULL, 'N'},
	{"force", no_argument, NULL, 'F'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* getopt takes "-1" for an option ("scale web -1" said "unknown option
   -1"). Returns a copy of argv with the options (and their values) first,
   then "--", then the operands in their order, a negative number being an
   operand: what GNU getopt's permutation does, but for numbers. NULL after
   one line when out of memory, or when the last option lacks its value
   (*argc_out < 0 then); caller frees the array (the strings are argv's). */
static char **
s_operands_last(int argc, char **argv, int *argc_out)
{
	char **out = calloc((size_t)argc + 2, sizeof(*out)), **ops;
	int n = 0, n_ops = 0, i, k;

	*argc_out = 0;
	if (out == NULL || (ops = calloc((size_t)argc + 1, sizeof(*ops))) == NULL) {
		free(out);
		ctl_err("out of memory");
		return NULL;
	}
	out[n++] = argv[0];
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool takes = false;

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				ops[n_ops++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0' || isdigit((unsigned char)a[1]) ||
		    (a[1] == '.' && isdigit((unsigned char)a[2]))) {
			ops[n_ops++] = argv[i];
			continue;
		}
		out[n++] = argv[i];
		if (a[1] == '-') {
			size_t len = strcspn(a + 2, "=");

			/* Abbreviations count as getopt_long counts them. */
			for (k = 0; s_longopts[k].name != NULL && a[2 + len] != '=' && !takes; k++)
				if (strncmp(s_longopts[k].name, a + 2, len) == 0)
					takes = s_longopts[k].has_arg == required_argument;
		} else {
			for (k = 1; a[k] != '\0'; k++) {
				const char *o = strchr(S_SHORTOPTS, a[k]);

				if (o != NULL && a[k] != ':' && o[1] == ':') {
					takes = a[k + 1] == '\0';
					break;
				}
			}
		}
		if (takes && i + 1 == argc) {
			ctl_err("option %s needs a value", a);
			*argc_out = -1;
			break;
		}
		if (takes)
			out[n++] = argv[++i];
	}
	out[n++] = "--";
	for (k = 0; k < n_ops; k++)
		out[n++] = ops[k];
	out[n] = NULL;
	free(ops);
	if (*argc_out < 0) {
		free(out);
		return NULL;
	}
	*argc_out = n;
	return out;
}

static int
s_run(int argc, char **argv)
{
	ctl_t c = {.tail = 20, .timeout_s = -1};
	const char *server = s_env("DROVER_URL");
	const char *cmd;
	char *queue = NULL;
	bool no_colour = false, server_opt = false, queue_opt = false, queue_cmd;
	unsigned used = 0;
	char *end;
	int opt, i, rc;

	setlocale(LC_CTYPE, "");
	c.token_file = s_env("DROVER_TOKEN_FILE");
	c.queue_endpoint = s_env("DROVER_QUEUE_URL");
	c.authkey_file = s_env("DROVER_AUTHKEY_FILE");
	opterr = 0;
	while ((opt = getopt_long(argc, argv, S_SHORTOPTS, s_longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			server = optarg;
			server_opt = true;
			break;
		case 'T':
			c.token_file = optarg;
			break;
		case 'J':
			c.json = true;
			break;
		case 'C':
			no_colour = true;
			break;
		case 'q':
			c.queue_endpoint = optarg;
			queue_opt = true;
			break;
		case 'K':
			c.authkey_file = optarg;
			break;
		case 'f':
			c.follow = true;
			used |= O_FOLLOW;
			break;
		case 'n':
			c.tail = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || c.tail < 0 || c.tail > 1000000) {
				ctl_err("-n wants a number of lines, not \"%s\"", optarg);
				return ctl_usage("logs");
			}
			used |= O_LINES;
			break;
		case 'E':
			c.stderr_stream = true;
			used |= O_STDERR;
			break;
		case 'R':
			c.rolling = true;
			used |= O_ROLLING;
			break;
		case 'W':
			c.no_wait = true;
			used |= O_NOWAIT;
			break;
		case 't':
			if ((c.timeout_s = s_seconds(optarg)) < 0) {
				ctl_err("--timeout wants seconds (5, 0.5, 500ms), not \"%s\"", optarg);
				return ctl_usage(NULL);
			}
			used |= O_TIMEOUT;
			break;
		case 'A':
			c.no_ack = true;
			used |= O_NOACK;
			break;
		case 'N':
			c.name = optarg;
			used |= O_NAME;
			break;
		case 'F':
			c.force = true;
			used |= O_FORCE;
			break;
		case 'h':
			fputs(s_help, stdout);
			return CTL_OK;
		case 'V':
			printf("droverctl %s\n", DROVER_VERSION);
			return CTL_OK;
		case ':':
			ctl_err("option %s needs a value", argv[optind - 1]);
			return ctl_usage(NULL);
		default:
			if (optopt != 0)
				ctl_err("unknown option -%c", optopt);
			else
				ctl_err("unknown option %s", argv[optind - 1]);
			return ctl_usage(NULL);
		}
	}
	if (optind >= argc) {
		ctl_err("no command given");
		return ctl_usage(NULL);
	}
	cmd = argv[optind];
	if (strcmp(cmd, "help") == 0) {
		fputs(s_help, stdout);
		return CTL_OK;
	}
	for (i = 0; s_cmds[i].name != NULL; i++)
		if (strcmp(cmd, s_cmds[i].name) == 0)
			break;
	if (s_cmds[i].name == NULL) {
		ctl_err("unknown command \"%s\"", cmd);
		return ctl_usage(NULL);
	}
	for (size_t k = 0; k < sizeof(s_optnames) / sizeof(s_optnames[0]); k++)
		if ((used & s_optnames[k].bit) && !(s_cmds[i].opts & s_optnames[k].bit)) {
			ctl_err("%s is not an option of %s", s_optnames[k].name, cmd);
			return ctl_usage(cmd);
		}
	/* Addresses are checked by the commands that use them, before they try. */
	queue_cmd = strcmp(cmd, "put") == 0 || strcmp(cmd, "get") == 0;
	if (!queue_cmd && strcmp(cmd, "keygen") != 0 &&
	    (c.server = s_server_url(server != NULL ? server : DEFAULT_SERVER,
				     server_opt ? "-s" : "DROVER_URL")) == NULL)
		return CTL_USAGE;
	if (queue_cmd && (queue = s_queue_url(c.queue_endpoint ? c.queue_endpoint : DEFAULT_QUEUE,
					      queue_opt ? "-q" : "DROVER_QUEUE_URL")) == NULL)
		return CTL_USAGE;
	c.queue_endpoint = queue;
	c.colour = !c.json && s_want_colour(no_colour);
	c.tty = isatty(STDOUT_FILENO);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (s_cmds[i].fn != NULL)
		rc = s_cmds[i].fn(&c, argc - optind - 1, argv + optind + 1);
	else
		rc = cmd_action(&c, cmd, argc - optind - 1, argv + optind + 1);
	ctl_http_close(&c);
	curl_global_cleanup();
	free(c.server);
	free(queue);
	if (fflush(stdout) != 0 && rc == CTL_OK)
		rc = CTL_FAILED;
	return rc;
}

int
main(int argc, char **argv)
{
	char **args;
	int n, rc;

	if ((args = s_operands_last(argc, argv, &n)) == NULL)
		return n < 0 ? ctl_usage(NULL) : CTL_FAILED;
	rc = s_run(n, args);
	free(args);
	return rc;
}
