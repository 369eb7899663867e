/* The API over HTTP with libcurl: one connection reused for every call of an
   invocation, every failure turned into one line that says what to do. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_CONNECT_TIMEOUT_S 5L
#define CTL_REQUEST_TIMEOUT_S 10L
#define CTL_SECRET_MAX (64 * 1024)

void
ctl_resp_free(ctl_resp_t *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t
s_collect(char *data, size_t size, size_t nmemb, void *arg)
{
	ctl_resp_t *r = arg;
	size_t n = size * nmemb;
	char *nb = realloc(r->body, r->len + n + 1);

	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

char *
ctl_read_secret(const char *path, const char *what, size_t *len)
{
	char *buf = NULL, *s, *e;
	size_t n = 0;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		ctl_err("cannot read the %s file %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(CTL_SECRET_MAX + 1)) == NULL) {
		close(fd);
		ctl_err("out of memory");
		return NULL;
	}
	while (n < CTL_SECRET_MAX && (got = read(fd, buf + n, CTL_SECRET_MAX - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			ctl_err("cannot read the %s file %s: %s", what, path, strerror(errno));
			close(fd);
			explicit_bzero(buf, n);
			free(buf);
			return NULL;
		}
		n += (size_t)got;
	}
	close(fd);
	buf[n] = '\0';
	/* As droverd reads it: the first line, without the whitespace around it
	   (a file written by echo or an editor ends with a newline). */
	s = buf + strspn(buf, " \t\r\n");
	e = s + strcspn(s, "\r\n");
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	n = (size_t)(e - s);
	memmove(buf, s, n);
	explicit_bzero(buf + n, CTL_SECRET_MAX + 1 - n);
	if (n == 0) {
		ctl_err("the %s file %s is empty", what, path);
		free(buf);
		return NULL;
	}
	if (len != NULL)
		*len = n;
	return buf;
}

char *
ctl_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(s) * 3 + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~:", ch) != NULL) {
			*o++ = (char)ch;
		} else {
			*o++ = '%';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		}
	}
	*o = '\0';
	return out;
}

/* One line for a request that got no HTTP answer. */
static void
s_transport_error(ctl_t *c, CURL *h, CURLcode rc, const char *errbuf)
{
	long oserr = 0;

	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		ctl_err("cannot reach droverd at %s: %s", c->server,
			oserr != 0 ? strerror((int)oserr) : "connection failed");
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		ctl_err("cannot reach droverd at %s: unknown host", c->server);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		ctl_err("droverd at %s did not answer within %ld s", c->server,
			CTL_REQUEST_TIMEOUT_S);
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		ctl_err("bad server address %s (expected http://HOST:PORT)", c->server);
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		ctl_err("droverd at %s closed the connection without an answer", c->server);
		break;
	default:
		ctl_err("cannot reach droverd at %s: %s", c->server,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
}

static bool
s_mutating(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

int
ctl_http(ctl_t *c, const char *method, const char *path, const char *body, ctl_resp_t *r)
{
	struct curl_slist *hdr = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url = NULL, *auth = NULL;
	CURL *h = c->curl;
	CURLcode rc;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (h == NULL) {
		if ((h = curl_easy_init()) == NULL) {
			ctl_err("cannot initialise libcurl");
			return -1;
		}
		c->curl = h;
	}
	if (s_mutating(method) && c->token == NULL && c->token_file != NULL &&
	    (c->token = ctl_read_secret(c->token_file, "token", NULL)) == NULL)
		return -1;
	if (asprintf(&url, "%s%s", c->server, path) < 0)
		return -1;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CTL_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, CTL_REQUEST_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "droverctl/" DROVER_VERSION);
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
	} else if (s_mutating(method)) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	if (s_mutating(method) && c->token != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
			goto out;
		hdr = curl_slist_append(hdr, auth);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		s_transport_error(c, h, rc, errbuf);
		ctl_resp_free(r);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body == NULL && (r->body = strdup("")) == NULL)
		goto out;
	ret = 0;
out:
	curl_slist_free_all(hdr);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(url);
	return ret;
}

void
ctl_http_error(ctl_t *c, const ctl_resp_t *r, const char *what)
{
	json_t *j = json_loads(r->body ? r->body : "", 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (r->status == 401) {
		if (c->token != NULL)
			ctl_err("the API refused the token (401)");
		else
			ctl_err("the API needs a token for this (401): give --token-file or set "
				"DROVER_TOKEN_FILE");
	} else if (msg != NULL && what != NULL && strstr(msg, what) == NULL) {
		ctl_err("%s: %s", what, msg);
	} else if (msg != NULL) {
		ctl_err("%s", msg);
	} else {
		ctl_err("%s: droverd answered HTTP %ld", what ? what : "request", r->status);
	}
	json_decref(j);
}

int
ctl_call(ctl_t *c, const char *method, const char *path, json_t *body, const char *what,
	 json_t **out, char **raw)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	ctl_resp_t r;
	json_error_t jerr;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (raw != NULL)
		*raw = NULL;
	rc = ctl_http(c, method, path, text, &r);
	free(text);
	if (rc != 0)
		return -1;
	if (r.status < 200 || r.status > 299) {
		ctl_http_error(c, &r, what);
		ctl_resp_free(&r);
		return -1;
	}
	if (out != NULL) {
		*out = r.len == 0 ? json_null() : json_loadb(r.body, r.len, 0, &jerr);
		if (*out == NULL) {
			ctl_err("%s %s: droverd's answer is not JSON: %s", method, path, jerr.text);
			ctl_resp_free(&r);
			return -1;
		}
	}
	if (raw != NULL) {
		*raw = r.body;
		r.body = NULL;
	}
	ctl_resp_free(&r);
	return 0;
}

void
ctl_http_close(ctl_t *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
	if (c->token != NULL) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
		c->token = NULL;
	}
}
