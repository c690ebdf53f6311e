#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* glibc's internal name for connect, exported too. */
extern int __connect(int fd, const struct sockaddr *addr, socklen_t len);

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int udp_listener(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback(port);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); exit(2); }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static int received(int fd) {
    char buf[16];
    int n = 0;
    while (recv(fd, buf, sizeof buf, 0) > 0) n++;
    return n;
}

static void to(struct mmsghdr *m, struct sockaddr_in *dest, struct iovec *iov) {
    memset(m, 0, sizeof *m);
    m->msg_hdr.msg_name = dest;
    m->msg_hdr.msg_namelen = sizeof *dest;
    m->msg_hdr.msg_iov = iov;
    m->msg_hdr.msg_iovlen = 1;
}

/* argv: the allowed UDP port, a port no rule allows. */
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int allowed = atoi(argv[1]), other = atoi(argv[2]);
    int to_allowed = udp_listener(allowed), to_other = udp_listener(other);
    struct sockaddr_in a = loopback(allowed), o = loopback(other);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct mmsghdr m[2];
    int s = socket(AF_INET, SOCK_DGRAM, 0);

    to(&m[0], &a, &iov); to(&m[1], &a, &iov);
    printf("allowed %d\n", sendmmsg(s, m, 2, 0));
    to(&m[0], &a, &iov); to(&m[1], &o, &iov);
    int r = sendmmsg(s, m, 2, 0);
    printf("mixed %d %s\n", r, r < 0 ? strerror(errno) : "");
    to(&m[0], &o, &iov); to(&m[1], &o, &iov);
    r = sendmmsg(s, m, 2, 0);
    printf("refused %d %s\n", r, r < 0 ? strerror(errno) : "");
    printf("received allowed %d other %d\n", received(to_allowed), received(to_other));

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr *)&o, sizeof o) != 0 || listen(listener, 1) != 0) {
        perror("tcp listener");
        return 2;
    }
    int c = socket(AF_INET, SOCK_STREAM, 0);
    r = __connect(c, (struct sockaddr *)&o, sizeof o);
    printf("__connect %d %s\n", r, r < 0 ? strerror(errno) : "");
    return 0;
}
