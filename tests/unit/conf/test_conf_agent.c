/* conf_agent: agent.yaml as a string and as a file; what the fuzzer found
   (tests/fuzz/conf_agent/regressions) stays an error with its place, not a
   crash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf_agent.h"

#define OK_AGENT                                                                           \
	"agent:\n  connect: tcp://hub:9171\n  name: node-1\n  key: node-1.cert_secret\n"  \
	"  server_key: droverd.cert\n"

/* Parses text; returns the errors (caller frees), or NULL when it parsed. */
static char *
errors_of(const char *text)
{
	conf_agent_t *a = NULL;
	char *errs = NULL;

	if (conf_agent_parse_string(text, strlen(text), "agent.yaml", "/etc/drover", &a, &errs) ==
	    0) {
		cr_assert_not_null(a);
		cr_assert_null(errs);
		conf_agent_free(&a);
		return NULL;
	}
	cr_assert_null(a);
	cr_assert_not_null(errs, "a failed parse must say why");
	return errs;
}

Test(conf_agent, a_string_parses_like_the_file)
{
	conf_agent_t *a = NULL;
	char *errs = NULL, path[] = "/tmp/drover-agent-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, OK_AGENT, strlen(OK_AGENT)), (ssize_t)strlen(OK_AGENT));
	close(fd);
	cr_assert_eq(conf_agent_load(path, &a, &errs), 0, "%s", errs ? errs : "");
	cr_assert_str_eq(a->key, "/tmp/node-1.cert_secret");
	cr_assert_str_eq(a->state_dir, "/tmp/var");
	conf_agent_free(&a);
	unlink(path);
	cr_assert_eq(conf_agent_parse_string(OK_AGENT, strlen(OK_AGENT), "agent.yaml",
					     "/etc/drover", &a, &errs),
		     0);
	cr_assert_str_eq(a->name, "node-1");
	cr_assert_str_eq(a->key, "/etc/drover/node-1.cert_secret");
	cr_assert_str_eq(a->log_dir, "/etc/drover/var/log");
	conf_agent_free(&a);
}

/* Found by fuzz_conf_agent: "{{}}" is a mapping whose key is a mapping;
   its key has no text and was compared with strcmp(NULL, ...). */
Test(conf_agent, a_mapping_or_list_as_a_key_is_an_error_not_a_crash)
{
	static const char *const texts[] = {
	    "{{}}",
	    "? [a, b]\n: 1\n",
	    "agent:\n  ? {x: 1}\n  : y\n",
	    OK_AGENT "  labels:\n    ? [role]\n    : worker\n",
	};
	size_t i;
	char *e;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		e = errors_of(texts[i]);
		cr_assert_not_null(e, "%s", texts[i]);
		cr_assert_not_null(strstr(e, "expected a string key"), "%s", e);
		free(e);
	}
	e = errors_of("{{}}");
	cr_assert_not_null(strstr(e, "agent.yaml:1:2: "), "%s", e);
	free(e);
}

/* A key given twice is an error, as in drover.yaml, not the last one
   silently winning (a second name: would make the agent another). */
Test(conf_agent, a_key_given_twice_is_an_error_with_both_lines)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {OK_AGENT "  name: node-2\n", ":6:3: agent.name: duplicate key (first at line 3)"},
	    {OK_AGENT "  labels: { role: a, zone: b, role: c }\n",
	     ":6:31: agent.labels: duplicate key (first at line 6)"},
	    {OK_AGENT "agent: {}\n", ":6:1: (top): duplicate key (first at line 1)"},
	};
	size_t i;
	char *e;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e = errors_of(cases[i].text);
		cr_assert_not_null(strstr(e, cases[i].want), "case %zu: %s", i, e);
		free(e);
	}
}
