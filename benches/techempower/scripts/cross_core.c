/*
 * What it costs to hand a cache line between CPU 0 and CPU 1, and to read the clock.
 *
 *   gcc -O2 -pthread benches/techempower/scripts/cross_core.c -o /tmp/cross_core && /tmp/cross_core [ROUNDS]
 *
 * Two threads, pinned to CPU 0 and CPU 1, take turns writing one shared word (each waits
 * for the other's write before its own): a round trip is one turn each, two transfers of
 * the line. ROUNDS (default 10) measurements of 200,000 round trips each, one line apiece,
 * so that a change during the run shows: on a VM the host may move the two virtual CPUs
 * between cores that share a cache and cores that do not. Then ten million
 * clock_gettime(CLOCK_MONOTONIC) calls (what `Instant::now` makes) on one thread. Run it on
 * an otherwise quiet machine.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TURNS 200000L
#define READS 10000000L

static _Atomic long word;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
        /* Unpinned, the two threads could share one CPU and take turns by time slices. */
        fprintf(stderr, "cannot pin a thread to CPU %d\n", cpu);
        exit(1);
    }
}

static double since(const struct timespec *a) {
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e9 + (double)(b.tv_nsec - a->tv_nsec);
}

static long rounds = 10;

static void *other(void *unused) {
    (void)unused;
    pin(1);
    for (long i = 0; i < TURNS * rounds; i++) {
        while (atomic_load(&word) != 2 * i + 1) {
        }
        atomic_store(&word, 2 * i + 2);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 2) {
        fprintf(stderr, "usage: %s [ROUNDS]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        char *end;
        rounds = strtol(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || rounds <= 0 || rounds > 1000000) {
            fprintf(stderr, "ROUNDS must be a whole number from 1 to 1000000, not %s\n", argv[1]);
            return 2;
        }
    }
    pthread_t t;
    if (pthread_create(&t, NULL, other, NULL) != 0) {
        perror("pthread_create");
        return 1;
    }
    pin(0);
    struct timespec start;
    for (long r = 0; r < rounds; r++) {
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long i = r * TURNS; i < (r + 1) * TURNS; i++) {
            atomic_store(&word, 2 * i + 1);
            while (atomic_load(&word) != 2 * i + 2) {
            }
        }
        printf("round trip between CPU 0 and CPU 1: %.1f ns\n", since(&start) / TURNS);
    }
    pthread_join(t, NULL);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < READS; i++) {
        struct timespec x;
        clock_gettime(CLOCK_MONOTONIC, &x);
    }
    printf("clock_gettime(CLOCK_MONOTONIC): %.1f ns\n", since(&start) / READS);
    return 0;
}
