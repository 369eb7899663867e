/* api history: GET /api/v1/processes/{name}/history and
   GET /api/v1/queues/{name}/history. droverd keeps the samples (its history
   hook builds the JSON); the API only routes, checks the method and turns a
   missing name or a missing hook into a clear 404. */
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

bool
api_history_route(api_t *api, const char *method, const char *path, api_reply_t *r)
{
	const char *kind, *rest, *slash;
	char name[256];
	size_t n;
	json_t *h;

	if (strncmp(path, "/processes/", 11) == 0) {
		kind = "process";
		rest = path + 11;
	} else if (strncmp(path, "/queues/", 8) == 0) {
		kind = "queue";
		rest = path + 8;
	} else {
		return false;
	}
	if ((slash = strchr(rest, '/')) == NULL || strcmp(slash, "/history") != 0)
		return false;
	n = (size_t)(slash - rest);
	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, rest, n);
	name[n] = '\0';
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		r->allow = "GET";
		api_reply_error(r, 405, "method_not_allowed", "%s is not allowed here; use GET",
				method);
		return true;
	}
	h = api->hooks.history ? api->hooks.history(api->ctx, kind, name) : NULL;
	if (h == NULL)
		api_reply_error(r, 404, "not_found", "no %s named %s", kind, name);
	else
		api_reply_json(r, 200, h);
	return true;
}
