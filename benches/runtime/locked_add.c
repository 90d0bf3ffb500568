/* What one locked read-modify-write costs on this processor, against a plain add: a loop of
 * 200 million `lock xadd` on one word (each waits for the one before), then of plain adds.
 *
 *   cc -O2 benches/runtime/locked_add.c -o /tmp/locked_add && /tmp/locked_add
 *
 * docs/sync.md uses it to explain why a ratio between two runtimes flips between processors.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void) {
    volatile uint64_t word = 0;
    const uint64_t n = 200000000;
    double t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) __atomic_fetch_add(&word, 1, __ATOMIC_SEQ_CST);
    double t1 = now_ns();
    for (uint64_t i = 0; i < n; i++) word = word + 1;
    double t2 = now_ns();
    printf("locked add %.2f ns, plain add %.2f ns\n", (t1 - t0) / n, (t2 - t1) / n);
    return 0;
}
