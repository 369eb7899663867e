/* agents, queues (tables from the API) and keygen (a CURVE key pair). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#include <zmq.h>

#include "auth.h"
#include "str.h"
#include "table.h"

/* A JSON scalar as text into buf: strings as they are, integers and reals
   as figures, true/false as yes/no, null as "-". */
static const char *
s_text(const json_t *v, char *buf, size_t len)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	else
		snprintf(buf, len, "-");
	return buf;
}

/* GET path, which answers an array; --json prints it, else fill() makes the
   table; an empty list prints "no WHAT". */
static int
s_list(ctl_t *c, const char *path, const char *what, void (*fill)(ctl_t *, json_t *))
{
	json_t *list;
	int rc = CTL_OK;

	if (ctl_call(c, "GET", path, NULL, NULL, &list, NULL) != 0)
		return CTL_FAILED;
	/* Accept {"agents": [...]} as well as a bare array. */
	if (json_is_object(list) && json_is_array(json_object_get(list, what))) {
		json_t *inner = json_incref(json_object_get(list, what));

		json_decref(list);
		list = inner;
	}
	if (c->json)
		ctl_print_json(list);
	else if (!json_is_array(list)) {
		ctl_err("GET %s: droverd's answer is not a list", path);
		rc = CTL_FAILED;
	} else if (json_array_size(list) == 0)
		printf("no %s\n", what);
	else
		fill(c, list);
	json_decref(list);
	return rc;
}

static void
s_agents_table(ctl_t *c, json_t *list)
{
	static const char *heads[] = {"NAME",	   "ADDRESS",	"STATE",
				      "LAST SEEN", "PROCESSES", "LABELS"};
	const char *cells[6], *cols[6] = {NULL};
	char seen[48], procs[24], labels[512], b1[64], b2[64];
	table_t *t = table_new(heads, 6);
	json_t *a, *v, *ls, *pr;
	const char *k, *state;
	size_t i, off;
	struct timespec now;

	if (t == NULL)
		return;
	table_align_right(t, 4);
	clock_gettime(CLOCK_REALTIME, &now);
	json_array_foreach(list, i, a)
	{
		ls = json_object_get(a, "last_seen");
		if (json_is_number(ls)) {
			char d[32];

			fmt_duration((double)now.tv_sec - json_number_value(ls), d, sizeof(d));
			snprintf(seen, sizeof(seen), "%s ago", d);
		} else {
			snprintf(seen, sizeof(seen), "%s", s_text(ls, b1, sizeof(b1)));
		}
		pr = json_object_get(a, "processes");
		if (json_is_array(pr))
			snprintf(procs, sizeof(procs), "%zu", json_array_size(pr));
		else
			snprintf(procs, sizeof(procs), "%s", s_text(pr, b2, sizeof(b2)));
		labels[0] = '\0';
		off = 0;
		json_object_foreach(json_object_get(a, "labels"), k, v)
		{
			char vb[64];
			int w = snprintf(labels + off, sizeof(labels) - off, "%s%s=%s",
					 off ? "," : "", k, s_text(v, vb, sizeof(vb)));

			if (w < 0 || (size_t)w >= sizeof(labels) - off)
				break;
			off += (size_t)w;
		}
		state = json_string_value(json_object_get(a, "state"));
		cols[2] = state && strcmp(state, "CONNECTED") == 0 ? "32" : "31";
		cells[0] = json_string_value(json_object_get(a, "name"));
		cells[1] = json_string_value(json_object_get(a, "address"));
		cells[2] = state;
		cells[3] = seen;
		cells[4] = procs;
		cells[5] = labels;
		table_add(t, cells, cols);
	}
	table_print(t, stdout, c->colour);
	table_destroy(&t);
}

int
cmd_agents(ctl_t *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return ctl_usage("agents");
	return s_list(c, "/api/v1/agents", "agents", s_agents_table);
}

static void
s_queues_table(ctl_t *c, json_t *list)
{
	static const char *heads[] = {"NAME",	   "SIZE", "CAPACITY", "IN FLIGHT",
				      "CONSUMERS", "PUT",  "GOT",      "DURABLE"};
	static const char *keys[] = {"name",	  "size",      "capacity",  "in_flight",
				     "consumers", "put_total", "get_total", "durable"};
	const char *cells[8];
	char bufs[8][64];
	table_t *t = table_new(heads, 8);
	json_t *q;
	size_t i;

	if (t == NULL)
		return;
	for (size_t k = 1; k < 7; k++)
		table_align_right(t, k);
	json_array_foreach(list, i, q)
	{
		for (size_t k = 0; k < 8; k++)
			cells[k] = s_text(json_object_get(q, keys[k]), bufs[k], sizeof(bufs[k]));
		table_add(t, cells, NULL);
	}
	table_print(t, stdout, c->colour);
	table_destroy(&t);
}

int
cmd_queues(ctl_t *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		return ctl_usage("queues");
	return s_list(c, "/api/v1/queues", "queues", s_queues_table);
}

/* ---- keygen ---- */

/* The default name of a key pair: this host's name (an agent's usual name). */
static void
s_default_name(char *buf, size_t len)
{
	if (gethostname(buf, len) != 0 || buf[0] == '\0')
		snprintf(buf, len, "drover");
	buf[len - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '/' || *p == '.')
			*p = *p == '.' ? '\0' : '_';
}

/* Writes DIR/NAME.cert (public key, 0644) and DIR/NAME.cert_secret (both
   keys, 0600) in CZMQ's zcert format, the format zcertstore and zauth read:
   droverd's keys_dir takes the public file of each agent as it is. */
int
cmd_keygen(ctl_t *c, int argc, char **argv)
{
	char host[256], pub[4200], sec[4200], z85[41];
	uint8_t pk[AUTH_KEY_LEN];
	const char *dir, *name;
	struct stat st;
	int rc;

	if (argc != 1)
		return ctl_usage("keygen");
	dir = argv[0];
	s_default_name(host, sizeof(host));
	name = c->name != NULL ? c->name : host;
	if (!str_name_ok(name)) {
		ctl_err("--name wants letters, digits, - _ and ., not \"%s\"", name);
		return ctl_usage("keygen");
	}
	if (!zmq_has("curve")) {
		ctl_err("this libzmq has no CURVE support");
		return CTL_FAILED;
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		ctl_err("cannot create %s: %s", dir, strerror(errno));
		return CTL_FAILED;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ctl_err("%s is not a directory", dir);
		return CTL_FAILED;
	}
	snprintf(pub, sizeof(pub), "%s/%s.cert", dir, name);
	snprintf(sec, sizeof(sec), "%s/%s.cert_secret", dir, name);
	if ((rc = auth_cert_make(dir, name, c->force, pk, NULL)) == -EEXIST) {
		ctl_err("%s already holds a key pair named %s (--force replaces it)", dir, name);
		return CTL_FAILED;
	}
	if (rc != 0) {
		ctl_err("cannot write the key pair %s: %s", sec, strerror(-rc));
		return CTL_FAILED;
	}
	auth_z85(pk, z85);
	if (c->json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "public_key", z85,
				      "public_file", pub, "secret_file", sec);

		ctl_print_json(j);
		json_decref(j);
	} else {
		printf("public key  %s\n", z85);
		printf("public      %s\n", pub);
		printf("secret      %s  (mode 0600: keep it on this host)\n", sec);
	}
	return CTL_OK;
}
