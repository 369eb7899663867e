/* net: listening TCP sockets that droverd makes itself, so that it owns
   their descriptors: the API hands its socket to libmicrohttpd, the queue
   host and the hub hand theirs to ZeroMQ (ZMQ_USE_FD), and an upgrade in
   place passes all of them to the next droverd (docs/upgrade.md). */
#ifndef DROVER_NET_H
#define DROVER_NET_H

#include <stdbool.h>
#include <sys/socket.h>

/* Binds and listens on "HOST:PORT" ("127.0.0.1:9170", "[::1]:9170",
   "localhost:9170"; an empty or star host means every address), non-blocking and
   close-on-exec, SO_REUSEADDR, backlog 512. what names the setting in
   messages ("http.listen"). When loopback_only, an address that resolves to
   anything but loopback is refused with why_not as the reason. Returns the
   fd, or -1 with *err (malloc'd, one line). */
int net_listen(const char *host_port, const char *what, bool loopback_only, const char *why_not,
	       char **err);

/* What net_listen checks before it binds (the address resolves; when
   loopback_only, only to loopback), without binding: droverd --check. 0, or
   -1 with *err. */
int net_check_listen(const char *host_port, const char *what, bool loopback_only,
		     const char *why_not, char **err);

/* The same for a ZeroMQ endpoint "tcp://HOST:PORT" ("tcp://0.0.0.0:7000", or a star host for every
 * address). */
int net_listen_zmq(const char *endpoint, const char *what, char **err);

/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool net_is_loopback(const struct sockaddr *sa);

/* True when fd is a listening TCP socket. */
bool net_is_listener(int fd);

#endif
