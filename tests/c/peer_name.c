/* getpeername with buffers of every size on a connection mocket redirected: each prefix of the
 * answer must be that of the original destination, as the kernel would write it for a real
 * peer, never the engine's loopback address (tests/tests/tcp.rs). Prints one line per size:
 * "<size> <returned len> <hex of the bytes written>". */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (argc != 3 || getaddrinfo(argv[1], argv[2], &hints, &res) != 0) {
        fprintf(stderr, "usage: peer_name HOST PORT (HOST must resolve)\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        perror("connect");
        return 1;
    }
    unsigned char expected[16] = {0};
    memcpy(expected, res->ai_addr, res->ai_addrlen < 16 ? res->ai_addrlen : 16);
    for (socklen_t size = 2; size <= 16; size += 2) {
        unsigned char buf[32];
        memset(buf, 0xee, sizeof buf);
        socklen_t len = size;
        if (getpeername(fd, (struct sockaddr *)buf, &len) != 0) {
            perror("getpeername");
            return 1;
        }
        printf("%u %u ", (unsigned)size, (unsigned)len);
        for (socklen_t i = 0; i < size + 2; i++)
            printf("%02x", buf[i]);
        printf(" %s\n", memcmp(buf, expected, size) == 0 && buf[size] == 0xee ? "same" : "differs");
    }
    freeaddrinfo(res);
    close(fd);
    return 0;
}
