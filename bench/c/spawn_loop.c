/* Interleaved spawn timer for the preload's load cost (issue 15), without building the whole
 * benchmark: for ROUNDS rounds, posix_spawn()s ARGV once with no preload and once under each
 * library given, in turn, and times each spawn to exit. Prints, per library, the median over
 * rounds of (time with it - time without it in the same round), and the median without.
 *
 *   cc -O2 -o spawn_loop bench/c/spawn_loop.c
 *   ./spawn_loop ROUNDS LIB... -- ARGV...
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The environment with LD_PRELOAD set to `lib` (or removed when NULL). */
static char **env_with(const char *lib) {
    int n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
            env[k++] = environ[i];
    if (lib) {
        char *v = malloc(strlen(lib) + 12);
        sprintf(v, "LD_PRELOAD=%s", lib);
        env[k++] = v;
    }
    return env;
}

static double spawn_once(char **argv, char **env) {
    pid_t pid;
    int status;
    double start = now();
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, env) != 0) {
        perror("posix_spawn");
        exit(2);
    }
    waitpid(pid, &status, 0);
    return now() - start;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: spawn_loop ROUNDS LIB... -- ARGV...\n");
        return 2;
    }
    int rounds = atoi(argv[1]), libs = 0;
    while (2 + libs < argc && strcmp(argv[2 + libs], "--") != 0)
        libs++;
    char **cmd = argv + 3 + libs;
    char **envs[16];
    envs[0] = env_with(NULL);
    for (int i = 0; i < libs && i < 15; i++)
        envs[i + 1] = env_with(argv[2 + i]);
    double *t = calloc((size_t)rounds * (libs + 1), sizeof *t);
    for (int r = 0; r < rounds / 10; r++) /* warm-up */
        for (int v = 0; v <= libs; v++)
            spawn_once(cmd, envs[v]);
    for (int r = 0; r < rounds; r++)
        for (int v = 0; v <= libs; v++)
            t[v * rounds + r] = spawn_once(cmd, envs[v]);
    double *d = calloc(rounds, sizeof *d);
    for (int r = 0; r < rounds; r++)
        d[r] = t[r];
    printf("none: median %.1f us\n", median(d, rounds) * 1e6);
    for (int v = 1; v <= libs; v++) {
        for (int r = 0; r < rounds; r++)
            d[r] = t[v * rounds + r] - t[r];
        printf("%s: added %+.1f us (median of paired differences)\n", argv[1 + v],
               median(d, rounds) * 1e6);
    }
    return 0;
}
