/* fuzz_agent_wire: the agent protocol's messages, as both ends decode them
   (lib/wire/agent_wire.c): the input is a type frame and a body frame. A
   message that passes awire_decode() goes on as its receiver would take
   it: the groups of a STATE through awire_group_decode() (the agent), the
   processes of a HELLO or EVENT through view_proc_from_json() (the hub).
   What decodes must encode and decode again to the same thing. */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "agent_wire.h"
#include "view.h"

static void
s_group(const json_t *j)
{
	char why[256] = "", why2[256] = "";
	conf_group_t *g, *g2;
	json_t *again;

	if ((g = awire_group_decode(j, why, sizeof(why))) == NULL) {
		FUZZ_CHECK(why[0] != '\0');
		return;
	}
	again = awire_group_encode(g);
	g2 = awire_group_decode(again, why2, sizeof(why2));
	if (g2 == NULL)
		fprintf(stderr, "re-decode: %s\n", why2);
	FUZZ_CHECK(g2 != NULL);
	FUZZ_CHECK(conf_group_same(g, g2));
	FUZZ_CHECK(g->instances == g2->instances && g->autostart == g2->autostart);
	conf_group_destroy(&g2);
	conf_group_destroy(&g);
	json_decref(again);
}

static void
s_proc(const json_t *j)
{
	view_proc_t p, q;
	json_t *again;

	if (view_proc_from_json(j, &p) != 0)
		return;
	FUZZ_CHECK(p.name != NULL && p.group != NULL);
	again = view_proc_json(&p);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(view_proc_from_json(again, &q) == 0);
	FUZZ_CHECK(strcmp(p.name, q.name) == 0 && strcmp(p.group, q.group) == 0);
	FUZZ_CHECK(p.instance == q.instance && p.state == q.state && p.pid == q.pid);
	json_decref(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_in_t in = {data, size};
	const uint8_t *type;
	size_t type_len = fuzz_field(&in, &type), i, len;
	char why[256] = "", *s;
	awire_type_t t;
	json_t *body, *list, *v;
	uint8_t *tcopy = malloc(type_len ? type_len : 1), *bcopy = malloc(in.n ? in.n : 1);
	int rc;

	memcpy(tcopy, type, type_len);
	memcpy(bcopy, in.p, in.n);
	rc = awire_decode(tcopy, type_len, bcopy, in.n, &t, &body, why, sizeof(why));
	if (rc != 0) {
		FUZZ_CHECK(rc == -EPROTO && body == NULL && why[0] != '\0');
		goto done;
	}
	FUZZ_CHECK(json_is_object(body) && (unsigned)t < AWIRE_N_TYPES);
	FUZZ_CHECK(strlen(awire_type_name(t)) == type_len);
	list = NULL;
	if (t == AWIRE_STATE)
		list = json_object_get(body, "groups");
	else if (t == AWIRE_HELLO || t == AWIRE_EVENT)
		list = json_object_get(body, "processes");
	json_array_foreach(list, i, v)
	{
		if (t == AWIRE_STATE)
			s_group(v);
		else
			s_proc(v);
	}
	/* What was accepted is sent on again as it is. */
	s = awire_encode(json_incref(body), &len);
	FUZZ_CHECK(s != NULL);
	json_decref(body);
	FUZZ_CHECK(awire_decode(awire_type_name(t), strlen(awire_type_name(t)), s, len, &t, &body,
			       why, sizeof(why)) == 0);
	json_decref(body);
	free(s);
done:
	free(tcopy);
	free(bcopy);
	return 0;
}
