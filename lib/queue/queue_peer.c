/* queue_peer: who was refused. A client with a wrong authkey fails the
   CURVE handshake and libzmq closes its connection within a fraction of a
   millisecond, often before the queue thread has read the monitor's
   ACCEPTED event and asked getpeername(). The kernel still knows: the
   server closed first, so the socket lingers in FIN_WAIT or TIME_WAIT with
   the peer's address. This asks it (sock_diag netlink, no privileges). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "queue_internal.h"

/* Appends to out[] the peers of family's TCP sockets on local port that
   droverd closed first (FIN_WAIT1/2, CLOSING, TIME_WAIT). */
static int
s_dump(int family, int port, char (*out)[64], int n, int max)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char buf[16384], ip[INET6_ADDRSTRLEN];
	struct nlmsghdr *h;
	ssize_t len;
	int fd, done = 0;

	if ((fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG)) < 0)
		return n;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states =
	    1u << TCP_FIN_WAIT1 | 1u << TCP_FIN_WAIT2 | 1u << TCP_TIME_WAIT | 1u << TCP_CLOSING;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return n;
	}
	while (!done && (len = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
			struct inet_diag_msg *m;

			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
				continue;
			m = NLMSG_DATA(h);
			if (ntohs(m->id.idiag_sport) != port || n >= max)
				continue;
			inet_ntop(family, m->id.idiag_dst, ip, sizeof(ip));
			snprintf(out[n++], 64, family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
				 ntohs(m->id.idiag_dport));
		}
	}
	close(fd);
	return n;
}

int
qh__closed_peers(int port, char (*out)[64], int max)
{
	int n = 0;

	if (port <= 0)
		return 0;
	n = s_dump(AF_INET, port, out, n, max);
	return s_dump(AF_INET6, port, out, n, max);
}
