/* values: scalars to C values, each problem reported at the value's node. */
#include "conf_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "units.h"

const char *
conf__what(const conf__node_t *n, char *buf, size_t size)
{
	if (n == NULL || conf__node_is_null(n))
		return "null";
	if (n->type == CONF__MAP)
		return "a mapping";
	if (n->type == CONF__SEQ)
		return "a list";
	return conf__quote(n->str, buf, size);
}

bool
conf__is(conf__ctx_t *x, const conf__node_t *n, conf__node_type_t t)
{
	char q[96];

	if (n != NULL && n->bad)
		return false; /* reported where it was made */
	if (n != NULL && n->type == t && !(t == CONF__SCALAR && conf__node_is_null(n)))
		return true;
	if (n == NULL || !n->bad)
		conf__err(x, n, "expected %s, got %s",
			  t == CONF__MAP   ? "a mapping"
			  : t == CONF__SEQ ? "a list"
					   : "a string",
			  conf__what(n, q, sizeof(q)));
	return false;
}

int
conf__str(conf__ctx_t *x, const conf__node_t *n, bool empty_ok, char **out)
{
	if (!conf__is(x, n, CONF__SCALAR))
		return -1;
	if (!empty_ok && n->len == 0) {
		conf__err(x, n, "must not be empty");
		return -1;
	}
	if ((*out = strdup(n->str)) == NULL) {
		x->oom = true;
		return -1;
	}
	return 0;
}

/* A scalar of the expected kind, or the "expected ..., got ..." message. */
static const char *
s_scalar(conf__ctx_t *x, const conf__node_t *n, const char *what)
{
	char q[96];

	if (n != NULL && n->bad)
		return NULL;
	if (n == NULL || n->type != CONF__SCALAR || conf__node_is_null(n)) {
		conf__err(x, n, "expected %s, got %s", what, conf__what(n, q, sizeof(q)));
		return NULL;
	}
	return n->str;
}

int
conf__bool(conf__ctx_t *x, const conf__node_t *n, bool *out)
{
	static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
	const char *s = s_scalar(x, n, "a boolean (true or false)");
	char q[96];
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < 3; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	conf__err(x, n, "expected a boolean (true or false), got %s", conf__quote(s, q, sizeof(q)));
	return -1;
}

int
conf__count(conf__ctx_t *x, const conf__node_t *n, int64_t max, int64_t *out)
{
	const char *s = s_scalar(x, n, "an integer"), *p;
	int64_t v = 0;
	char q[96];

	if (s == NULL)
		return -1;
	p = (*s == '-') ? s + 1 : s;
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p)) {
		conf__err(x, n, "expected an integer, got %s", conf__quote(s, q, sizeof(q)));
		return -1;
	}
	if (p != s) {
		conf__err(x, n, "must not be negative, got %.32s", s);
		return -1;
	}
	for (; *p != '\0'; p++) {
		if (v > (max - (*p - '0')) / 10) {
			conf__err(x, n, "must be at most %lld, got %s", (long long)max,
				  conf__quote(s, q, sizeof(q)));
			return -1;
		}
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return 0;
}

int
conf__duration(conf__ctx_t *x, const conf__node_t *n, bool positive, int64_t *out_ms)
{
	const char *s = s_scalar(x, n, "a duration");
	char q[96];
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = units_duration_ms(s, out_ms)) == -ERANGE) {
		conf__err(x, n, "duration out of range: %s", conf__quote(s, q, sizeof(q)));
		return -1;
	}
	if (rc != 0) {
		conf__err(x, n, "expected a duration like 250ms, 10s, 5m or 1h, got %s",
			  conf__quote(s, q, sizeof(q)));
		return -1;
	}
	if (*out_ms > CONF_MAX_DURATION_MS) {
		conf__err(x, n, "duration out of range: %s (at most %dms, about 24.8 days)",
			  conf__quote(s, q, sizeof(q)), CONF_MAX_DURATION_MS);
		return -1;
	}
	if (positive && *out_ms == 0) {
		conf__err(x, n, "must be longer than 0");
		return -1;
	}
	return 0;
}

int
conf__size(conf__ctx_t *x, const conf__node_t *n, int64_t *out)
{
	const char *s = s_scalar(x, n, "a size");
	char q[96];
	int rc;

	if (s == NULL)
		return -1;
	if ((rc = units_size_bytes(s, out)) == -ERANGE) {
		conf__err(x, n, "size out of range: %s", conf__quote(s, q, sizeof(q)));
		return -1;
	}
	if (rc != 0) {
		conf__err(x, n, "expected a size like 512KB, 50MB or 1GB, got %s",
			  conf__quote(s, q, sizeof(q)));
		return -1;
	}
	return 0;
}

int
conf__number(conf__ctx_t *x, const conf__node_t *n, double *out)
{
	const char *s = s_scalar(x, n, "a number");
	char *end;
	char q[96];
	double v;

	if (s == NULL)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s) || *end != '\0' || errno != 0 ||
	    !isfinite(v)) {
		conf__err(x, n, "expected a number, got %s", conf__quote(s, q, sizeof(q)));
		return -1;
	}
	*out = v;
	return 0;
}
