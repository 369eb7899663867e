/* web_bundle: the dashboard's built files, embedded into droverd at build
   time (web/build.mjs writes web_bundle.c). Each file is there raw and
   gzipped, with a strong ETag computed from its bytes. */
#ifndef DROVER_WEB_BUNDLE_H
#define DROVER_WEB_BUNDLE_H

#include <stddef.h>

typedef struct {
	const char *path; /* "/index.html", "/app.js", ... */
	const char *type; /* Content-Type */
	const char *etag; /* quoted, as sent */
	const unsigned char *data;
	size_t len;
	const unsigned char *gz;
	size_t gz_len;
} web_file_t;

extern const web_file_t web_files[];
extern const size_t web_n_files;

#endif
