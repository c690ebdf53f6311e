/* Interleaved spawn timer for the preload's load cost (issue 15), without building the whole
 * benchmark: for ROUNDS rounds, posix_spawn()s ARGV once with no preload and once under each
 * library given, in turn, and times each spawn to exit (wall) and the child's CPU time (user +
 * system, from wait4: steadier than wall time on a loaded machine), in an order shuffled in
 * every round. Prints, per library, the
 * median over rounds of (time with it - time without it in the same round), and the medians
 * without; the same for the child's minor page faults (on a VM each costs a few us: they are
 * most of what a preload adds beyond the loader's symbol work).
 *
 *   cc -O2 -o spawn_loop bench/c/spawn_loop.c
 *   ./spawn_loop ROUNDS LIB... -- ARGV...
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* Spawns once; the wall time, the child's CPU time in *cpu and its minor faults in *faults. */
static double spawn_once(char **argv, char **env, double *cpu, double *faults) {
    pid_t pid;
    int status;
    struct rusage usage;
    double start = now();
    if (posix_spawn(&pid, argv[0], NULL, NULL, argv, env) != 0) {
        perror("posix_spawn");
        exit(2);
    }
    wait4(pid, &status, 0, &usage);
    double wall = now() - start;
    *cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec * 1e-6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec * 1e-6;
    *faults = (double)usage.ru_minflt;
    return wall;
}

/* Prints the medians of `t` (rounds per variant, variant 0 without a preload), scaled by
 * `scale` and followed by `unit`. */
static void report(const char *what, double *t, int rounds, int libs, char **names,
                   double scale, const char *unit) {
    double *d = calloc(rounds, sizeof *d);
    for (int r = 0; r < rounds; r++)
        d[r] = t[r];
    printf("%s none: median %.1f %s\n", what, median(d, rounds) * scale, unit);
    for (int v = 1; v <= libs; v++) {
        for (int r = 0; r < rounds; r++)
            d[r] = t[v * rounds + r] - t[r];
        printf("%s %s: added %+.1f %s (median of paired differences)\n", what, names[v - 1],
               median(d, rounds) * scale, unit);
    }
    free(d);
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
    double *wall = calloc((size_t)rounds * (libs + 1), sizeof *wall);
    double *cpu = calloc((size_t)rounds * (libs + 1), sizeof *cpu);
    double *faults = calloc((size_t)rounds * (libs + 1), sizeof *faults);
    double ignored, ignored_faults;
    for (int r = 0; r < rounds / 10; r++) /* warm-up */
        for (int v = 0; v <= libs; v++)
            spawn_once(cmd, envs[v], &ignored, &ignored_faults);
    /* The order is shuffled in every round: a spawn's place in the round, and the spawn before
     * it, bias its time (measured: the same library +82 us and +105 us when listed twice, with
     * a fixed or a rotating order), so no variant keeps a place or a neighbour. */
    int order[16];
    unsigned long long seed = 0x9e3779b97f4a7c15ULL;
    for (int r = 0; r < rounds; r++) {
        for (int v = 0; v <= libs; v++)
            order[v] = v;
        for (int v = libs; v > 0; v--) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17; /* xorshift64 */
            int other = (int)(seed % (unsigned long long)(v + 1)), kept = order[v];
            order[v] = order[other], order[other] = kept;
        }
        for (int k = 0; k <= libs; k++) {
            int v = order[k];
            size_t at = (size_t)v * rounds + r;
            wall[at] = spawn_once(cmd, envs[v], &cpu[at], &faults[at]);
        }
    }
    report("wall", wall, rounds, libs, argv + 2, 1e6, "us");
    report("cpu", cpu, rounds, libs, argv + 2, 1e6, "us");
    report("faults", faults, rounds, libs, argv + 2, 1, "minor faults");
    return 0;
}
