/* auth: the certificates of the agent hub. keys_dir holds droverd's own
   pair (droverd.cert, droverd.cert_secret) and one NAME.cert per admitted
   agent, in CZMQ's zcert format; the file's name is the agent's name. The
   directory is read again whenever it has changed (a cert added, removed
   or renamed) and on every reload. No CZMQ: the hub maps only libzmq. */
#include "auth.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"

typedef struct {
	char *name;
	uint8_t pk[AUTH_KEY_LEN];
} s_cert_t;

struct auth_certs {
	char *dir;
	s_cert_t *certs;
	size_t n;
	struct timespec mtime;
};

int
auth_cert_server(const char *dir, const char *name, uint8_t *pk, uint8_t *sk, bool *created)
{
	char path[4096];
	int rc;

	*created = false;
	snprintf(path, sizeof(path), "%s/%s.cert_secret", dir, name);
	if ((rc = auth_cert_load(path, pk, sk)) != -ENOENT)
		return rc;
	rc = auth_cert_make(dir, name, false, pk, sk);
	*created = rc == 0;
	return rc;
}

static void
s_clear(auth_certs_t *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->certs[i].name);
	free(c->certs);
	c->certs = NULL;
	c->n = 0;
}

/* Reads the directory now. */
static int
s_scan(auth_certs_t *c)
{
	DIR *d;
	struct dirent *de;
	struct stat st;
	s_cert_t *list = NULL, *nl;
	size_t n = 0, len, i;
	char path[4096];
	uint8_t pk[AUTH_KEY_LEN];

	if (stat(c->dir, &st) != 0 || (d = opendir(c->dir)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= 5 || strcmp(de->d_name + len - 5, ".cert") != 0 || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->dir, de->d_name);
		if (auth_cert_load(path, pk, NULL) != 0) {
			log_warn("agents: %s is not a certificate: ignored", path);
			continue;
		}
		if ((nl = realloc(list, (n + 1) * sizeof(*nl))) == NULL)
			break;
		list = nl;
		if ((list[n].name = strndup(de->d_name, len - 5)) == NULL)
			break;
		memcpy(list[n].pk, pk, AUTH_KEY_LEN);
		n++;
	}
	closedir(d);
	s_clear(c);
	c->certs = list;
	c->n = n;
	c->mtime = st.st_mtim;
	for (i = 0; i < n; i++)
		log_debug("agents: key of %s", list[i].name);
	return 0;
}

auth_certs_t *
auth_certs_new(const char *dir)
{
	auth_certs_t *c = calloc(1, sizeof(*c));
	int err;

	if (c == NULL || (c->dir = strdup(dir)) == NULL) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	if ((err = -s_scan(c)) != 0) {
		auth_certs_destroy(&c);
		errno = err;
		return NULL;
	}
	return c;
}

void
auth_certs_destroy(auth_certs_t **cp)
{
	if (cp == NULL || *cp == NULL)
		return;
	s_clear(*cp);
	free((*cp)->dir);
	free(*cp);
	*cp = NULL;
}

int
auth_certs_reload(auth_certs_t *c)
{
	return s_scan(c);
}

const char *
auth_certs_name(auth_certs_t *c, const uint8_t *pk)
{
	struct stat st;
	size_t i;

	if (stat(c->dir, &st) == 0 &&
	    (st.st_mtim.tv_sec != c->mtime.tv_sec || st.st_mtim.tv_nsec != c->mtime.tv_nsec))
		s_scan(c);
	for (i = 0; i < c->n; i++)
		if (sodium_memcmp(c->certs[i].pk, pk, AUTH_KEY_LEN) == 0)
			return c->certs[i].name;
	return NULL;
}

bool
auth_certs_holds(auth_certs_t *c, const char *name, const uint8_t *pk)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->certs[i].name, name) == 0)
			return sodium_memcmp(c->certs[i].pk, pk, AUTH_KEY_LEN) == 0;
	return false;
}

bool
auth_certs_known(auth_certs_t *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->certs[i].name, name) == 0)
			return true;
	return false;
}
