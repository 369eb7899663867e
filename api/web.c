/* api web: the dashboard's files. By default they come from the bundle built
   into droverd (web_bundle.h), each raw and gzipped with a strong ETag made
   at build time, so a request costs a lookup and a header or two; with
   http.web_root they are read from that directory on each request instead,
   for working on the dashboard without rebuilding droverd. Every file goes
   out with a strict Content-Security-Policy: scripts and styles from this
   origin only, no inline script, no connection anywhere else. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_internal.h"
#include "web_bundle.h"

#define API_WEB_MAX_FILE (16 * 1024 * 1024) /* a file read from web_root */

static const char s_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
			    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
			    "manifest-src 'self'; base-uri 'none'; form-action 'none'; "
			    "frame-ancestors 'none'";

static const char *
s_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
	    {".json", "application/json"},	   {".png", "image/png"},
	    {".map", "application/json"}};
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* True when the client named etag (or "*") in If-None-Match. */
static bool
s_not_modified(struct MHD_Connection *conn, const char *etag)
{
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");

	return inm != NULL && (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

/* True when Accept-Encoding takes gzip (and does not refuse it with q=0). */
static bool
s_accepts_gzip(struct MHD_Connection *conn)
{
	const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
	const char *g, *q;

	if (ae == NULL || (g = strstr(ae, "gzip")) == NULL)
		return false;
	q = g + 4;
	while (*q == ' ')
		q++;
	if (*q != ';')
		return true;
	q = strstr(q, "q=");
	return q == NULL || strtod(q + 2, NULL) > 0;
}

static enum MHD_Result
s_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *resp, const char *type,
	const char *etag)
{
	enum MHD_Result ret;

	if (resp == NULL)
		return MHD_NO;
	if (type != NULL)
		MHD_add_response_header(resp, "Content-Type", type);
	if (etag != NULL)
		MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "Vary", "Accept-Encoding");
	MHD_add_response_header(resp, "Content-Security-Policy", s_csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
s_error(struct MHD_Connection *conn, unsigned status, const char *code, const char *msg,
	const char *allow)
{
	api_reply_t r = {0};
	struct MHD_Response *resp;

	api_reply_error(&r, status, code, "%s", msg);
	resp = MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(r.body);
		return MHD_NO;
	}
	if (allow != NULL)
		MHD_add_response_header(resp, "Allow", allow);
	return s_queue(conn, status, resp, r.type, NULL);
}

static const web_file_t *
s_embedded(const char *path)
{
	size_t i;

	for (i = 0; i < web_n_files; i++)
		if (strcmp(web_files[i].path, path) == 0)
			return &web_files[i];
	return NULL;
}

/* A file name web_root may serve: one path segment of [A-Za-z0-9._-] that
   does not start with a dot (so no "..", no hidden file, no subdirectory). */
static bool
s_safe_name(const char *name)
{
	const char *c;

	if (*name == '\0' || *name == '.' || strlen(name) > 128)
		return false;
	for (c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-'))
			return false;
	return true;
}

/* Serves path from the web_root directory; false when there is no such file. */
static bool
s_from_disk(api_t *api, struct MHD_Connection *conn, const char *path, enum MHD_Result *ret)
{
	char file[4096], etag[64], *buf;
	struct stat st;
	FILE *f;
	size_t n;

	if (!s_safe_name(path + 1) ||
	    snprintf(file, sizeof(file), "%s%s", api->web_root, path) >= (int)sizeof(file))
		return false;
	if ((f = fopen(file, "rb")) == NULL)
		return false;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > API_WEB_MAX_FILE) {
		fclose(f);
		return false;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_mtim.tv_sec,
		 (unsigned long long)st.st_mtim.tv_nsec, (unsigned long long)st.st_size);
	if (s_not_modified(conn, etag)) {
		fclose(f);
		*ret = s_queue(conn, MHD_HTTP_NOT_MODIFIED,
			       MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
			       NULL, etag);
		return true;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(f);
		*ret = s_error(conn, 500, "internal", "out of memory", NULL);
		return true;
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	*ret = s_queue(conn, MHD_HTTP_OK,
		       MHD_create_response_from_buffer(n, buf, MHD_RESPMEM_MUST_FREE), s_type(path),
		       etag);
	return true;
}

bool
api_web_serve(api_t *api, struct MHD_Connection *conn, const char *url, const char *method,
	      enum MHD_Result *ret)
{
	const char *path = strcmp(url, "/") == 0 ? "/index.html" : url;
	const web_file_t *f = NULL;
	struct MHD_Response *resp;
	bool gz;

	if (api->web_root == NULL && (f = s_embedded(path)) == NULL)
		return false;
	if (api->web_root != NULL && strchr(path + 1, '/') != NULL)
		return false;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		if (api->web_root != NULL && strcmp(path, "/index.html") != 0)
			return false;
		*ret =
		    s_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
			    "only GET and HEAD are allowed on the dashboard's files", "GET, HEAD");
		return true;
	}
	if (api->web_root != NULL)
		return s_from_disk(api, conn, path, ret);
	if (s_not_modified(conn, f->etag)) {
		*ret = s_queue(conn, MHD_HTTP_NOT_MODIFIED,
			       MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT),
			       NULL, f->etag);
		return true;
	}
	gz = s_accepts_gzip(conn);
	resp = MHD_create_response_from_buffer(
	    gz ? f->gz_len : f->len, (void *)(gz ? f->gz : f->data), MHD_RESPMEM_PERSISTENT);
	if (resp != NULL && gz)
		MHD_add_response_header(resp, "Content-Encoding", "gzip");
	*ret = s_queue(conn, MHD_HTTP_OK, resp, f->type, f->etag);
	return true;
}
