/* See expect.h. */
#include "expect.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_FUNCTIONS 96
#define MAX_PRINTED 40

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *names[MAX_FUNCTIONS];
static _Atomic uint64_t counts[MAX_FUNCTIONS];
static _Atomic int function_count;
static _Atomic uint64_t total_calls;
static _Atomic uint64_t violations;

static _Thread_local uint64_t where_seed;
static _Thread_local int where_thread;
static _Thread_local uint64_t where_step;

void rc_where(uint64_t seed, int thread, uint64_t step) {
    where_seed = seed;
    where_thread = thread;
    where_step = step;
}

static int slot_of(const char *fn) {
    int n = atomic_load(&function_count);
    for (int i = 0; i < n; i++) {
        if (names[i] == fn || strcmp(names[i], fn) == 0) {
            return i;
        }
    }
    pthread_mutex_lock(&table_lock);
    n = atomic_load(&function_count);
    int found = -1;
    for (int i = 0; i < n && found < 0; i++) {
        if (strcmp(names[i], fn) == 0) {
            found = i;
        }
    }
    if (found < 0 && n < MAX_FUNCTIONS) {
        names[n] = fn;
        atomic_store(&function_count, n + 1);
        found = n;
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

void rc_count(const char *fn) {
    int slot = slot_of(fn);
    if (slot >= 0) {
        atomic_fetch_add(&counts[slot], 1);
    }
    atomic_fetch_add(&total_calls, 1);
}

void rc_fail(const char *fn, const char *what) {
    uint64_t n = atomic_fetch_add(&violations, 1);
    if (n < MAX_PRINTED) {
        fprintf(stderr, "VIOLATION seed %" PRIu64 " thread %d step %" PRIu64 ": %s: %s\n", where_seed, where_thread,
                where_step, fn, what);
    }
}

static void describe_mask(rc_mask mask, char *out, size_t len) {
    out[0] = '\0';
    size_t used = 0;
    for (int s = 0; s < 32 && used + 1 < len; s++) {
        if (mask & RC_BIT(s)) {
            int w = snprintf(out + used, len - used, "%s%s", used ? "|" : "", oxray_status_name(s));
            used += w > 0 ? (size_t)w : 0;
        }
    }
}

bool rc_expect(const char *fn, oxray_status got, rc_mask allowed) {
    rc_count(fn);
    char message[512];
    size_t needed = oxray_last_error(message, sizeof message);
    bool ok = (unsigned)got < 32 && (allowed & RC_BIT(got));
    if (!ok) {
        char want[256], what[1024];
        describe_mask(allowed, want, sizeof want);
        snprintf(what, sizeof what, "answered %s (%d), documented: %s; last error: %s",
                 oxray_status_name((int32_t)got), (int)got, want, message);
        rc_fail(fn, what);
        return false;
    }
    if (got == OXRAY_OK && needed != 1) {
        rc_fail(fn, "succeeded but oxray_last_error() is not empty");
    } else if (got != OXRAY_OK && (needed <= 1 || message[0] == '\0')) {
        rc_fail(fn, "failed without a message in oxray_last_error()");
    }
    return true;
}

uint64_t rc_calls(void) {
    return atomic_load(&total_calls);
}

uint64_t rc_violations(void) {
    return atomic_load(&violations);
}

int rc_print_coverage(void) {
    int n = atomic_load(&function_count);
    for (int i = 0; i < n; i++) {
        printf("  %-42s %10" PRIu64 "\n", names[i], atomic_load(&counts[i]));
    }
    return n;
}

bool rc_all_called(const char *const *wanted) {
    bool all = true;
    int n = atomic_load(&function_count);
    for (; *wanted; wanted++) {
        bool seen = false;
        for (int i = 0; i < n && !seen; i++) {
            seen = strcmp(names[i], *wanted) == 0 && atomic_load(&counts[i]) > 0;
        }
        if (!seen) {
            fprintf(stderr, "never called: %s\n", *wanted);
            all = false;
        }
    }
    return all;
}
