/* The C driver of the cross-language soak (tests/soak/run.sh): threads tracing as fast as they
 * can through the C ABI to the daemon address in AWS_XRAY_DAEMON_ADDRESS, each iteration a
 * request-shaped trace: a segment with annotations and metadata, three subsegments (one with a
 * child of its own, one remote with HTTP fields). Every entity is named soak-c… so the listener
 * can attribute it. RSS is sampled once a second. At the end: flush, then one stdout line
 *   SOAK {"tag":"c","completed_entities":N,"counters":{...},"rss_kb":[...],"errors":E}
 * Environment: OXRAY_SOAK_SECONDS (default 60), OXRAY_SOAK_TAG (default c),
 * OXRAY_SOAK_THREADS (default 4). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oxray.h"

#define MAX_SAMPLES 7200

static oxray_recorder *recorder;
static _Atomic bool stop;
static _Atomic uint64_t completed;
static _Atomic uint64_t errors;
static char tag[32] = "c";

static void failed(const char *what, oxray_status s) {
    uint64_t n = atomic_fetch_add(&errors, 1);
    if (n < 10) {
        char message[256];
        oxray_last_error(message, sizeof message);
        fprintf(stderr, "soak.c: %s answered %s: %s\n", what, oxray_status_name(s), message);
    }
}

#define CALL(expr)                                                                                                     \
    do {                                                                                                               \
        oxray_status s_ = (expr);                                                                                      \
        if (s_ != OXRAY_OK) {                                                                                          \
            failed(#expr, s_);                                                                                         \
        }                                                                                                              \
    } while (0)

/* Begins a child named soak-<tag>-<what>. */
static oxray_entity *child(oxray_entity *parent, const char *what) {
    char name[64];
    snprintf(name, sizeof name, "soak-%s-%s", tag, what);
    oxray_entity *e = NULL;
    CALL(oxray_entity_begin_subsegment(parent, name, &e));
    return e;
}

/* Ends and frees an entity, counting it if it ended. */
static void finish(oxray_entity *e) {
    oxray_status s = oxray_entity_end(e);
    if (s == OXRAY_OK) {
        atomic_fetch_add(&completed, 1);
    } else {
        failed("oxray_entity_end", s);
    }
    oxray_entity_free(e);
}

static void one_trace(uint64_t n) {
    char name[64];
    snprintf(name, sizeof name, "soak-%s-request", tag);
    oxray_entity *segment = NULL;
    CALL(oxray_recorder_begin_segment(recorder, name, NULL, &segment));
    CALL(oxray_entity_put_annotation_string(segment, "soak_tag", tag));
    CALL(oxray_entity_put_annotation_int64(segment, "iteration", (int64_t)n));
    oxray_http_request request = {"GET", "https://soak.example.com/orders", "soak.c", "127.0.0.1", false, false};
    CALL(oxray_entity_set_http_request(segment, &request));

    oxray_entity *validate = child(segment, "validate");
    CALL(oxray_entity_put_annotation_bool(validate, "valid", true));
    finish(validate);

    oxray_entity *store = child(segment, "store");
    CALL(oxray_entity_put_metadata(store, "soak", "row", "{\"id\":42,\"items\":[1,2,3],\"note\":\"caf\\u00e9\"}"));
    oxray_entity *query = child(store, "query");
    oxray_sql sql = {"postgresql://db.example.com:5432/orders", NULL, "SELECT * FROM orders WHERE id = ?",
                     "PostgreSQL", "16.1", NULL, "app", "statement"};
    CALL(oxray_entity_set_sql(query, &sql));
    finish(query);
    finish(store);

    oxray_entity *call = child(segment, "downstream");
    CALL(oxray_entity_set_namespace(call, "remote"));
    char header[256];
    CALL(oxray_entity_outgoing_header(call, header, sizeof header, NULL));
    CALL(oxray_entity_set_http_response(call, n % 50 == 0 ? 503 : 200, 512));
    finish(call);

    CALL(oxray_entity_set_http_response(segment, 200, 2048));
    finish(segment);
}

static void *worker(void *arg) {
    (void)arg;
    for (uint64_t n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
        one_trace(n);
    }
    return NULL;
}

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    long kb = -1;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

static long env_long(const char *name, long fallback) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

int main(void) {
    long seconds = env_long("OXRAY_SOAK_SECONDS", 60);
    int threads = (int)env_long("OXRAY_SOAK_THREADS", 4);
    if (getenv("OXRAY_SOAK_TAG")) {
        snprintf(tag, sizeof tag, "%s", getenv("OXRAY_SOAK_TAG"));
    }
    if (seconds < 1 || seconds > MAX_SAMPLES || threads < 1 || threads > 64) {
        fprintf(stderr, "soak.c: OXRAY_SOAK_SECONDS 1..%d and OXRAY_SOAK_THREADS 1..64\n", MAX_SAMPLES);
        return 2;
    }
    /* The daemon address comes from the environment; every trace is sampled. */
    oxray_status s = oxray_recorder_new("{\"sample_rate\":1}", &recorder);
    if (s != OXRAY_OK) {
        failed("oxray_recorder_new", s);
        return 1;
    }
    static long samples[MAX_SAMPLES];
    int sample_count = 0;
    pthread_t pool[64];
    for (int i = 0; i < threads; i++) {
        pthread_create(&pool[i], NULL, worker, NULL);
    }
    /* One RSS sample per second, on the second (absolute deadlines: no drift). */
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (sample_count < seconds) {
        next.tv_sec += 1;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
        }
        samples[sample_count++] = rss_kb();
    }
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++) {
        pthread_join(pool[i], NULL);
    }
    CALL(oxray_recorder_flush(recorder, 30000));
    oxray_counters c;
    memset(&c, 0, sizeof c);
    CALL(oxray_recorder_counters(recorder, &c));
    printf("SOAK {\"tag\":\"%s\",\"completed_entities\":%" PRIu64 ",\"counters\":{\"sent\":%" PRIu64
           ",\"dropped\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"streamed\":%" PRIu64 ",\"send_errors\":%" PRIu64
           ",\"warnings\":%" PRIu64 "},\"rss_kb\":[",
           tag, atomic_load(&completed), c.sent, c.dropped, c.truncated, c.streamed, c.send_errors, c.warnings);
    for (int i = 0; i < sample_count; i++) {
        printf("%s%ld", i ? "," : "", samples[i]);
    }
    printf("],\"errors\":%" PRIu64 ",\"threads\":%d}\n", atomic_load(&errors), threads);
    fflush(stdout);
    oxray_recorder_free(recorder);
    return 0;
}
