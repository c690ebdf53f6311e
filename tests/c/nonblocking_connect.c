/* A non-blocking connect to a mocked host, as event loops do it: connect returns EINPROGRESS
 * (or 0), poll(POLLOUT), SO_ERROR, then the request. Prints the connect's result, SO_ERROR and
 * whether a repeated connect says connected, and the response. With "fastopen" as argv[1], connects with sendto(MSG_FASTOPEN)
 * instead, the request riding on the connect. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

static const char request[] = "GET /ok HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";

int main(int argc, char **argv) {
    int fastopen = argc > 1 && strcmp(argv[1], "fastopen") == 0;
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("api.test", "80", &hints, &res) != 0) {
        puts("getaddrinfo failed");
        return 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fastopen) {
        ssize_t n = sendto(fd, request, strlen(request), MSG_FASTOPEN, res->ai_addr, res->ai_addrlen);
        printf("sendto %s\n", n == (ssize_t)strlen(request) ? "all" : strerror(errno));
    } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        int r = connect(fd, res->ai_addr, res->ai_addrlen);
        printf("connect %s\n", r == 0 ? "0" : errno == EINPROGRESS ? "EINPROGRESS" : strerror(errno));
        struct pollfd p = {fd, POLLOUT, 0};
        if (poll(&p, 1, 5000) != 1) {
            puts("never writable");
            return 1;
        }
        int err = -1;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        printf("so_error %d\n", err);
        /* hiredis asks again whether the connect completed: 0 (or EISCONN), and no second
         * preamble may reach the engine. */
        r = connect(fd, res->ai_addr, res->ai_addrlen);
        printf("again %s\n", r == 0 || errno == EISCONN ? "connected" : strerror(errno));
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        if (write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
            puts("write failed");
            return 1;
        }
    }
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    printf("%s\n", strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\r\n\r\nfine") ? "fine" : buf);
    return 0;
}
