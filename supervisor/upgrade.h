/* upgrade: droverd re-executes itself on the same pid, keeping its workers
   (docs/upgrade.md). These are the mechanics that do not depend on what is
   handed over: the binary's check, the descriptors kept across the exec,
   the state written to a memfd and read back by the next droverd. */
#ifndef DROVER_SUP_UPGRADE_H
#define DROVER_SUP_UPGRADE_H

#include <jansson.h>
#include <stdbool.h>

#define UPGRADE_ENV "DROVER_UPGRADE_FD"
#define UPGRADE_VERSION 1

/* The descriptors that must survive the exec. */
typedef struct {
	int *fds;
	size_t n, cap;
	bool failed; /* out of memory while adding */
} upgrade_keep_t;

/* A keep callback for proc_core_export() and api_export(): ctx is an
   upgrade_keep_t. */
void upgrade_keep(void *ctx, int fd);
void upgrade_keep_free(upgrade_keep_t *k);

/* Runs "exe --version" (3 s at most) and checks that it is a droverd.
   Returns its version line ("droverd 0.4.0"), malloc'd, or NULL with *err. */
char *upgrade_check_binary(const char *exe, char **err);

/* Writes state to a new memfd, clears close-on-exec on it and on every kept
   descriptor, sets UPGRADE_ENV and executes exe with argv. Returns only when
   the exec failed: -errno with *err set, everything put back as it was
   (close-on-exec, the environment); the memfd is returned in *state_fd
   (or -1) for the caller to read its own export back from or close. */
int upgrade_exec(const char *exe, char *const argv[], json_t *state, upgrade_keep_t *keep,
		 int *state_fd, char **err);

/* In the next droverd: the state the previous one left (UPGRADE_ENV), with
   the variable removed so that no worker sees it; NULL when this is a fresh
   start. A variable that does not lead to a valid state is an error
   (*err): the workers of the previous droverd cannot be found then. */
json_t *upgrade_inherit(char **err);

/* A memfd holding data, read from its start (the queue host's export goes
   across this way). -1 with errno. */
int upgrade_memfd(const char *name);

#endif
