/* api replies: an error message that quotes the request is still a JSON
   error object, whatever bytes the request held (found by fuzz_http: a
   404 for /api/v1/agents/%B7%B7 had the body "null"). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* The message of r's error object (r's body is freed). */
static char *
message_of(api_reply_t *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *m;
	char *out;

	cr_assert_not_null(j, "not a JSON object: %.*s", (int)r->len, r->body);
	m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	cr_assert_not_null(m, "no error.message in %.*s", (int)r->len, r->body);
	out = strdup(m);
	json_decref(j);
	free(r->body);
	return out;
}

Test(api_reply, an_error_quoting_bytes_that_are_not_utf8_is_still_an_error_object)
{
	api_reply_t r = {0};
	char *m;

	api_reply_error(&r, 404, "not_found", "no agent named %s", "\xb7\xb7");
	cr_assert_eq(r.status, 404);
	m = message_of(&r);
	cr_assert_str_eq(m, "no agent named \xef\xbf\xbd\xef\xbf\xbd");
	free(m);
}

Test(api_reply, a_message_cut_inside_a_character_is_still_an_error_object)
{
	api_reply_t r = {0};
	char name[2000];
	char *m;
	size_t i;

	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2); /* é, cut at the 1024-byte limit */
	name[i] = '\0';
	api_reply_error(&r, 404, "not_found", "no process named %s", name + 1);
	m = message_of(&r);
	cr_assert_not_null(strstr(m, "no process named \xef\xbf\xbd\xc3\xa9"), "%s", m);
	free(m);
}
