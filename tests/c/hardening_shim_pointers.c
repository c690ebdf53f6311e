#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define BAD ((void *)16)

static void say(const char *what, int r) {
    printf("%s %d %s\n", what, r, r < 0 && errno == EFAULT ? "EFAULT" : strerror(errno));
    errno = 0;
}

/* Invalid non-NULL pointers where libc answers EFAULT; getaddrinfo without a result pointer. */
int main(void) {
    int t = socket(AF_INET, SOCK_STREAM, 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    say("connect", connect(t, BAD, sizeof(struct sockaddr_in)));
    say("sendto", (int)sendto(u, "x", 1, 0, BAD, sizeof(struct sockaddr_in)));
    say("sendmsg-header", (int)sendmsg(u, BAD, 0));
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr mh = {.msg_name = BAD, .msg_namelen = sizeof(struct sockaddr_in),
                        .msg_iov = &iov, .msg_iovlen = 1};
    say("sendmsg-name", (int)sendmsg(u, &mh, 0));
    say("sendmmsg-vector", sendmmsg(u, BAD, 1, 0));
    struct mmsghdr mm = {.msg_hdr = mh};
    say("sendmmsg-name", sendmmsg(u, &mm, 1, 0));
    int r = getaddrinfo("legacy.internal", "80", NULL, NULL);
    printf("getaddrinfo-name %s\n", r == EAI_SYSTEM && errno == EFAULT ? "EAI_SYSTEM" : gai_strerror(r));
    r = getaddrinfo("127.0.0.1", "80", NULL, NULL);
    printf("getaddrinfo-numeric %s\n", r == EAI_SYSTEM && errno == EFAULT ? "EAI_SYSTEM" : gai_strerror(r));
    puts("alive");
    return 0;
}
