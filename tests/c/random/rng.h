/* A small seeded generator for the random call harness: splitmix64, so that a seed alone
 * replays a whole call sequence (per thread: seed and thread number). */
#ifndef OXRAY_RANDOM_RNG_H
#define OXRAY_RANDOM_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rc_rng {
    uint64_t state;
} rc_rng;

static inline uint64_t rc_next(rc_rng *r) {
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A number in [0, n); n > 0. */
static inline size_t rc_below(rc_rng *r, size_t n) {
    return (size_t)(rc_next(r) % n);
}

/* True with probability 1/n. */
static inline int rc_one_in(rc_rng *r, size_t n) {
    return rc_below(r, n) == 0;
}

#endif
