/* What the shim costs a client per new connection (issue 15), and what it answers a connect in
 * the wrong address family.
 *
 * shim_fast_path HOST count N: one warm-up connection, then N connections to HOST:80 with the
 * address and getpeername's buffers on the heap, then N with them on the stack; each
 * connection asks getpeername (which must answer HOST's address, port 80) and GETs /ok. A
 * getppid() call marks the start of each phase, so that a trace (strace) can tell them apart.
 * Prints "heap N" and "stack N": the connections served "fine" with the right peer.
 *
 * shim_fast_path HOST families: connects a fresh IPv6 socket to HOST's IPv4 address, and a
 * fresh IPv4 socket to it IPv4-mapped in an IPv6 address; prints what each connect answered
 * ("0" or the errno's name). The kernel refuses both before sending anything. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char request[] = "GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";

static struct sockaddr_in resolve(const char *host) {
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, "80", &hints, &res) != 0) {
        printf("cannot resolve %s\n", host);
        exit(1);
    }
    struct sockaddr_in addr;
    memcpy(&addr, res->ai_addr, sizeof addr);
    freeaddrinfo(res);
    return addr;
}

/* One connection to `addr` (`len` bytes), its peer asked into `peer` (`*peer_len` bytes):
 * 1 when the peer is `expected` and the response ends with "fine". */
static int get(const struct sockaddr *addr, socklen_t len, struct sockaddr_in *peer,
               socklen_t *peer_len, const struct sockaddr_in *expected) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, addr, len) != 0)
        return 0;
    *peer_len = sizeof *peer;
    int same = getpeername(fd, (struct sockaddr *)peer, peer_len) == 0 &&
               peer->sin_addr.s_addr == expected->sin_addr.s_addr &&
               peer->sin_port == expected->sin_port;
    char buf[4096];
    size_t got = 0;
    ssize_t n = write(fd, request, strlen(request));
    while (n > 0 && got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    return same && got >= 4 && strcmp(buf + got - 4, "fine") == 0;
}

static void count(const struct sockaddr_in *target, int n) {
    struct sockaddr_in *heap_addr = malloc(sizeof *heap_addr), *heap_peer = malloc(sizeof *heap_peer);
    socklen_t *heap_len = malloc(sizeof *heap_len);
    *heap_addr = *target;
    get((struct sockaddr *)heap_addr, sizeof *heap_addr, heap_peer, heap_len, target);
    syscall(SYS_getppid);
    int served = 0;
    for (int i = 0; i < n; i++)
        served += get((struct sockaddr *)heap_addr, sizeof *heap_addr, heap_peer, heap_len, target);
    printf("heap %d\n", served);
    fflush(stdout);
    syscall(SYS_getppid);
    served = 0;
    for (int i = 0; i < n; i++) {
        struct sockaddr_in addr = *target, peer;
        socklen_t peer_len;
        served += get((struct sockaddr *)&addr, sizeof addr, &peer, &peer_len, target);
    }
    printf("stack %d\n", served);
    free(heap_addr);
    free(heap_peer);
    free(heap_len);
}

static const char *answer(int family, const struct sockaddr *addr, socklen_t len) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r = connect(fd, addr, len);
    int err = errno;
    close(fd);
    if (r == 0 || err == EINPROGRESS)
        return "0";
    return err == EINVAL ? "EINVAL" : err == EAFNOSUPPORT ? "EAFNOSUPPORT" : strerror(err);
}

static void families(const struct sockaddr_in *v4) {
    struct sockaddr_in6 mapped = {0};
    mapped.sin6_family = AF_INET6;
    mapped.sin6_port = v4->sin_port;
    mapped.sin6_addr.s6_addr[10] = 0xff;
    mapped.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&mapped.sin6_addr.s6_addr[12], &v4->sin_addr, 4);
    printf("ipv4 address on an ipv6 socket: %s\n",
           answer(AF_INET6, (const struct sockaddr *)v4, sizeof *v4));
    printf("ipv6 address on an ipv4 socket: %s\n",
           answer(AF_INET, (const struct sockaddr *)&mapped, sizeof mapped));
}

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    struct sockaddr_in target = resolve(argv[1]);
    if (strcmp(argv[2], "count") == 0 && argc == 4)
        count(&target, atoi(argv[3]));
    else if (strcmp(argv[2], "families") == 0)
        families(&target);
    else
        return 2;
    return 0;
}
