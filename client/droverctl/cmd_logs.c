/* logs: the last lines of a process's captured output, and -f to follow.

   Following polls GET /processes/NAME/logs?offset=O&inode=I every 200 ms:
   droverd answers the complete lines written since byte O of the capture
   file I and the offset and file to ask from next. Nothing is lost or shown
   twice between polls, droverd keeps no state per follower, and a rotation
   is followed through (droverd finishes the rotated file first). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define CTL_FOLLOW_MS 200

static void
s_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* GET the logs of name; on success *out holds the answer (caller owns). */
static int
s_fetch(ctl_t *c, const char *esc, const char *name, const char *query, json_t **out)
{
	char *path;
	int rc;

	if (asprintf(&path, "/api/v1/processes/%s/logs?stream=%s&%s", esc,
		     c->stderr_stream ? "stderr" : "stdout", query) < 0)
		return -1;
	rc = ctl_call(c, "GET", path, NULL, name, out, NULL);
	free(path);
	if (rc == 0 && !json_is_array(json_object_get(*out, "lines"))) {
		ctl_err("%s: droverd's answer has no lines", name);
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return rc;
}

/* Writes a line of a worker's output to a terminal as less(1) does: a
   control character is shown in caret notation (ESC as ^[, BEL as ^G, DEL
   as ^?) and a C1 control as <U+009B>, so that what a worker wrote can
   neither move the cursor, retitle the window nor answer back through the
   terminal. A tab stays a tab. s is valid UTF-8 (droverd replaced the
   rest). */
static void
s_put_escaped(const char *s, FILE *f)
{
	const unsigned char *u = (const unsigned char *)s;

	for (; *u != '\0'; u++) {
		if (*u == '\t' || (*u >= 0x20 && *u != 0x7f && *u != 0xc2)) {
			putc(*u, f);
		} else if (*u < 0x20 || *u == 0x7f) {
			putc('^', f);
			putc(*u ^ 0x40, f);
		} else if (u[1] >= 0x80 && u[1] <= 0x9f) { /* U+0080..U+009F */
			fprintf(f, "<U+%04X>", (unsigned)u[1]);
			u++;
		} else {
			putc(*u, f);
		}
	}
}

/* Prints the lines of an answer; returns how many. */
static size_t
s_print_lines(ctl_t *c, json_t *o)
{
	json_t *lines = json_object_get(o, "lines"), *l;
	const char *text;
	size_t i;

	json_array_foreach(lines, i, l)
	{
		text = json_string_value(l) ? json_string_value(l) : "";
		if (c->json)
			json_dumpf(l, stdout, JSON_ENCODE_ANY);
		else if (c->tty)
			s_put_escaped(text, stdout);
		else
			fputs(text, stdout); /* piped: the bytes as written */
		fputc('\n', stdout);
	}
	fflush(stdout);
	return json_array_size(lines);
}

/* A bare group name means its only instance. */
static char *
s_resolve(ctl_t *c, const char *target)
{
	json_t *all, *p, *one = NULL;
	size_t i, n = 0;
	char *name = NULL;

	if (strchr(target, ':') != NULL)
		return strdup(target);
	if (ctl_call(c, "GET", "/api/v1/processes", NULL, NULL, &all, NULL) != 0)
		return NULL;
	json_array_foreach(all, i, p)
	{
		const char *g = json_string_value(json_object_get(p, "group"));

		if (g != NULL && strcmp(g, target) == 0) {
			one = p;
			n++;
		}
	}
	if (n == 1)
		name = strdup(json_string_value(json_object_get(one, "name")));
	else if (n == 0)
		ctl_err("no such process or group: %s", target);
	else
		ctl_err("%s has %zu instances: name one, e.g. %s:0", target, n, target);
	json_decref(all);
	return name;
}

int
cmd_logs(ctl_t *c, int argc, char **argv)
{
	json_t *o = NULL;
	char *name, *esc = NULL, query[96];
	json_int_t offset;
	json_t *inode;
	int rc = CTL_FAILED;

	if (argc != 1)
		return ctl_usage("logs");
	if ((name = s_resolve(c, argv[0])) == NULL)
		return CTL_FAILED;
	if ((esc = ctl_escape(name)) == NULL)
		goto out;
	snprintf(query, sizeof(query), "tail=%ld", c->tail);
	if (s_fetch(c, esc, name, query, &o) != 0)
		goto out;
	if (c->json && !c->follow)
		ctl_print_json(o);
	else
		s_print_lines(c, o);
	rc = CTL_OK;
	if (!c->follow)
		goto out;
	for (;;) {
		offset = json_integer_value(json_object_get(o, "offset"));
		inode = json_object_get(o, "inode");
		if (json_is_integer(inode))
			snprintf(query, sizeof(query), "offset=%lld&inode=%lld", (long long)offset,
				 (long long)json_integer_value(inode));
		else
			snprintf(query, sizeof(query), "offset=%lld", (long long)offset);
		json_decref(o);
		o = NULL;
		s_sleep_ms(CTL_FOLLOW_MS);
		if (s_fetch(c, esc, name, query, &o) != 0) {
			rc = CTL_FAILED;
			break;
		}
		s_print_lines(c, o);
		if (ferror(stdout)) {
			rc = CTL_FAILED;
			break;
		}
	}
out:
	json_decref(o);
	free(esc);
	free(name);
	return rc;
}
