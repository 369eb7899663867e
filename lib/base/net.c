/* net: listening sockets (see net.h). */
#include "net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "str.h"

bool
net_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

bool
net_is_listener(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0;
}

/* host_port resolved for a passive socket into *res, loopback_only
   checked; 0, or -1 with *err. */
static int
s_resolve(const char *host_port, const char *what, bool loopback_only, const char *why_not,
	  struct addrinfo **res, char **err)
{
	char host[256], *port;
	struct addrinfo hints = {0}, *ai;
	int rc;

	*res = NULL;
	if (strlen(host_port) >= sizeof(host)) {
		*err = str_printf("%s: address too long", what);
		return -1;
	}
	if (host_port[0] == '[') {
		snprintf(host, sizeof(host), "%s", host_port + 1);
		port = strstr(host, "]:");
		if (port == NULL)
			goto bad;
		*port = '\0';
		port += 2;
	} else {
		snprintf(host, sizeof(host), "%s", host_port);
		port = strrchr(host, ':');
		if (port == NULL)
			goto bad;
		*port++ = '\0';
	}
	if (*port == '\0')
		goto bad;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*host && strcmp(host, "*") != 0 ? host : NULL, port, &hints, res)) !=
	    0) {
		*err = str_printf("%s %s: %s", what, host_port, gai_strerror(rc));
		*res = NULL;
		return -1;
	}
	for (ai = *res; loopback_only && ai != NULL; ai = ai->ai_next) {
		if (!net_is_loopback(ai->ai_addr)) {
			*err = str_printf("refusing to listen on %s %s", host_port, why_not);
			freeaddrinfo(*res);
			*res = NULL;
			return -1;
		}
	}
	return 0;
bad:
	*err = str_printf("%s: expected HOST:PORT, got \"%s\"", what, host_port);
	return -1;
}

int
net_check_listen(const char *host_port, const char *what, bool loopback_only, const char *why_not,
		 char **err)
{
	struct addrinfo *res;

	if (s_resolve(host_port, what, loopback_only, why_not, &res, err) != 0)
		return -1;
	freeaddrinfo(res);
	return 0;
}

int
net_listen(const char *host_port, const char *what, bool loopback_only, const char *why_not,
	   char **err)
{
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, e = 0;

	if (s_resolve(host_port, what, loopback_only, why_not, &res, err) != 0)
		return -1;
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 512) != 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		*err = str_printf("%s %s: %s", what, host_port, strerror(e));
	return fd;
}

int
net_listen_zmq(const char *endpoint, const char *what, char **err)
{
	if (strncmp(endpoint, "tcp://", 6) != 0) {
		*err = str_printf("%s: expected tcp://HOST:PORT, got \"%s\"", what, endpoint);
		return -1;
	}
	return net_listen(endpoint + 6, what, false, NULL, err);
}
