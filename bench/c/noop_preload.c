/* A no-op LD_PRELOAD library: the floor any LD_PRELOAD tool pays. It hooks the calls libmocket.so
 * hooks (resolver, connect, getpeername, UDP sends) and only calls through to the next
 * definition, resolved with dlsym(RTLD_NEXT) on first use. Built by the benchmark with cc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>

#define NEXT(name) \
    static __typeof__(name) *real; \
    if (!real) real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    NEXT(connect);
    return real(fd, addr, len);
}

int getpeername(int fd, struct sockaddr *addr, socklen_t *len) {
    NEXT(getpeername);
    return real(fd, addr, len);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    NEXT(getaddrinfo);
    return real(node, service, hints, res);
}

struct hostent *gethostbyname(const char *name) {
    NEXT(gethostbyname);
    return real(name);
}

int getnameinfo(const struct sockaddr *addr, socklen_t len, char *host, socklen_t hostlen,
                char *serv, socklen_t servlen, int flags) {
    NEXT(getnameinfo);
    return real(addr, len, host, hostlen, serv, servlen, flags);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t len) {
    NEXT(sendto);
    return real(fd, buf, n, flags, addr, len);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
    NEXT(sendmsg);
    return real(fd, msg, flags);
}
