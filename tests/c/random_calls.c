/* The C ABI under random call sequences (issue 7): every function of include/oxray.h called
 * with seeded random arguments — NULLs, freed and made-up handles, ended entities, invalid
 * UTF-8, embedded NULs, megabyte strings, deep nesting — first on one thread, then from many
 * threads at once on shared entities. Every answer is checked against the statuses the header
 * documents for that call (random/world.h), every document (memory recorders and a real UDP
 * listener on 127.0.0.1) is judged (random/sink.h), and every entity ended must arrive once.
 * Built with ASan+LSan+UBSan by bindings/c/test.sh.
 *
 * Usage: random_calls [--seeds N] [--first-seed S] [--calls N] [--threads T] [--max-depth D]
 *                     [--no-huge] [--documents FILE]
 * The environment can raise the defaults: OXRAY_RANDOM_SEEDS, OXRAY_RANDOM_CALLS,
 * OXRAY_RANDOM_THREADS, OXRAY_RANDOM_FIRST_SEED. A failure prints its seed: rerun with
 * --first-seed <seed> --seeds 1 to replay it (single-threaded phases replay exactly). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "random/ops.h"
#include "random/sink.h"
#include "random/world.h"

typedef struct options {
    uint64_t seeds, first_seed, calls;
    int threads, max_depth;
    bool huge;
    const char *documents;
} options;

static uint64_t env_number(const char *name, uint64_t fallback) {
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : fallback;
}

static options parse_options(int argc, char **argv) {
    options o = {env_number("OXRAY_RANDOM_SEEDS", 4), env_number("OXRAY_RANDOM_FIRST_SEED", 1),
                 env_number("OXRAY_RANDOM_CALLS", 20000), (int)env_number("OXRAY_RANDOM_THREADS", 8), 48, true, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-huge") == 0) {
            o.huge = false;
        } else if (v && strcmp(a, "--seeds") == 0) {
            o.seeds = strtoull(v, NULL, 10), i++;
        } else if (v && strcmp(a, "--first-seed") == 0) {
            o.first_seed = strtoull(v, NULL, 10), i++;
        } else if (v && strcmp(a, "--calls") == 0) {
            o.calls = strtoull(v, NULL, 10), i++;
        } else if (v && strcmp(a, "--threads") == 0) {
            o.threads = atoi(v), i++;
        } else if (v && strcmp(a, "--max-depth") == 0) {
            o.max_depth = atoi(v), i++;
        } else if (v && strcmp(a, "--documents") == 0) {
            o.documents = v, i++;
        } else {
            fprintf(stderr, "random_calls: unknown argument %s\n", a);
            exit(2);
        }
    }
    if (o.threads < 1 || o.max_depth < 1) {
        fprintf(stderr, "random_calls: --threads and --max-depth must be at least 1\n");
        exit(2);
    }
    return o;
}

/* The long-lived recorders every phase uses (index = position). */
enum { R_MEMORY, R_RUNTIME_ERROR, R_UDP, R_BACKGROUND, R_DISABLED, R_RULES, R_FIXED_COUNT };

static rc_recorder recorders[R_FIXED_COUNT + 1];

static oxray_recorder *make_recorder(const char *config) {
    oxray_recorder *r = NULL;
    if (!rc_expect("oxray_recorder_new", oxray_recorder_new(config, &r), RC_OK)) {
        exit(1);
    }
    return r;
}

static void make_recorders(int port) {
    char config[256];
    recorders[R_MEMORY] = (rc_recorder){
        make_recorder("{\"emit_mode\":\"memory\",\"sample_rate\":1,\"max_embedded_children\":3}"), 0, true, false,
        true, false, false};
    recorders[R_RUNTIME_ERROR] = (rc_recorder){
        make_recorder("{\"emit_mode\":\"memory\",\"sample_rate\":1,\"context_missing\":\"RUNTIME_ERROR\","
                      "\"max_embedded_bytes\":2000}"),
        1, true, false, true, true, false};
    snprintf(config, sizeof config, "{\"emit_mode\":\"udp\",\"daemon_address\":\"127.0.0.1:%d\",\"sample_rate\":1}", port);
    recorders[R_UDP] = (rc_recorder){make_recorder(config), RC_SINK_UDP, false, false, true, false, false};
    snprintf(config, sizeof config, "{\"daemon_address\":\"127.0.0.1:%d\",\"sample_rate\":1}", port);
    recorders[R_BACKGROUND] = (rc_recorder){make_recorder(config), RC_SINK_UDP, false, false, true, false, false};
    recorders[R_DISABLED] = (rc_recorder){make_recorder("{\"emit_mode\":\"memory\",\"enabled\":false}"), 2, true, true,
                                          false, false, false};
    recorders[R_RULES] = (rc_recorder){
        make_recorder("{\"emit_mode\":\"memory\",\"context_missing\":\"IGNORE_ERROR\","
                      "\"daemon_address\":\"tcp:127.0.0.1:9 udp:127.0.0.1:9\"}"),
        3, true, false, false, false, false};
}

static void world_init(rc_world *w, uint64_t seed, int thread, const options *o, int recorder_count) {
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->thread = thread;
    /* Mixed, not added: splitmix streams whose states differ by its increment would be the
     * same sequence shifted by a step. */
    rc_rng mix = {seed ^ ((uint64_t)thread << 40)};
    w->rng.state = rc_next(&mix);
    w->in = (rc_inputs){&w->rng, &w->arena, o->huge};
    w->recorders = recorders;
    w->recorder_count = recorder_count;
    w->current = -1;
    w->max_depth = o->max_depth;
}

/* Phase 1: one thread, with a recorder of its own that it frees halfway (its entities must
 * keep working and sending). */
static void single_thread_phase(uint64_t seed, const options *o, int port) {
    char config[160];
    snprintf(config, sizeof config, "{\"emit_mode\":\"udp\",\"daemon_address\":\"127.0.0.1:%d\",\"sample_rate\":1}", port);
    recorders[R_FIXED_COUNT] = (rc_recorder){make_recorder(config), RC_SINK_UDP, false, false, true, false, false};
    rc_world w;
    world_init(&w, seed, 0, o, R_FIXED_COUNT + 1);
    for (uint64_t step = 0; step < o->calls; step++) {
        rc_where(seed, 0, step);
        if (step == o->calls / 2) {
            oxray_recorder_free(recorders[R_FIXED_COUNT].handle);
            rc_count("oxray_recorder_free");
            rc_graveyard_recorder(recorders[R_FIXED_COUNT].handle);
            recorders[R_FIXED_COUNT].freed = true;
        }
        rc_step(&w);
    }
    if (!recorders[R_FIXED_COUNT].freed) {
        oxray_recorder_free(recorders[R_FIXED_COUNT].handle);
        rc_count("oxray_recorder_free");
    }
    rc_world_release(&w);
}

/* Phase 2: threads at once, each with its own entities plus shared segments every thread
 * writes to and begins subsegments under. */
#define SHARED 4
typedef struct shared_entity {
    oxray_entity *h;
    int sink;
    char id[OXRAY_ENTITY_ID_SIZE];
} shared_entity;

typedef struct thread_job {
    uint64_t seed, calls;
    int thread;
    const options *o;
    shared_entity *shared;
} thread_job;

static void *thread_main(void *arg) {
    thread_job *job = arg;
    rc_world w;
    world_init(&w, job->seed, job->thread, job->o, R_FIXED_COUNT);
    for (int i = 0; i < SHARED; i++) {
        int h = rc_world_add(&w, job->shared[i].h, job->shared[i].sink, 1, false, 0);
        w.handles[h].borrowed = true;
        w.states[w.handles[h].state].shared = true;
    }
    for (uint64_t step = 0; step < job->calls; step++) {
        rc_where(job->seed, job->thread, step);
        rc_step(&w);
    }
    bool leave_current = rc_one_in(&w.rng, 2);
    if (leave_current) {
        /* The thread exits with its current-entity slot set: the slot's own reference goes
         * with the thread. rc_world_release clears it otherwise. */
        int keep = w.current;
        w.current = -1;
        for (int i = w.handle_count - 1; i >= 0; i--) {
            if (w.handles[i].borrowed) {
                w.handles[i] = w.handles[--w.handle_count];
            } else {
                rc_world_free_handle(&w, i);
            }
        }
        (void)keep;
        free(w.handles);
        free(w.states);
        rc_arena_release(&w.arena);
    } else {
        rc_world_release(&w);
    }
    return NULL;
}

static void threads_phase(uint64_t seed, const options *o) {
    shared_entity shared[SHARED];
    for (int i = 0; i < SHARED; i++) {
        int r = i % 2 ? R_UDP : R_MEMORY;
        char name[32];
        snprintf(name, sizeof name, "shared-%d", i);
        shared[i].sink = recorders[r].sink;
        rc_expect("oxray_recorder_begin_segment", oxray_recorder_begin_segment(recorders[r].handle, name, NULL, &shared[i].h),
                  RC_OK);
        rc_expect("oxray_entity_id", oxray_entity_id(shared[i].h, shared[i].id, sizeof shared[i].id, NULL), RC_OK);
    }
    pthread_t threads[64];
    thread_job jobs[64];
    int n = o->threads < 64 ? o->threads : 64;
    for (int t = 0; t < n; t++) {
        jobs[t] = (thread_job){seed, o->calls / (uint64_t)n + 1, t + 1, o, shared};
        pthread_create(&threads[t], NULL, thread_main, &jobs[t]);
    }
    for (int t = 0; t < n; t++) {
        pthread_join(threads[t], NULL);
    }
    for (int i = 0; i < SHARED; i++) {
        if (rc_expect("oxray_entity_end", oxray_entity_end(shared[i].h), RC_OK)) {
            rc_ledger_ended(shared[i].sink, shared[i].id);
        }
        oxray_entity_free(shared[i].h);
        rc_count("oxray_entity_free");
    }
}

static const char *const EVERY_FUNCTION[] = {
    "oxray_current_begin_subsegment", "oxray_current_clear", "oxray_current_get", "oxray_current_set",
    "oxray_daemon_address_parse", "oxray_diagnostics_set_callback", "oxray_diagnostics_set_level",
    "oxray_entity_add_exception", "oxray_entity_begin_subsegment", "oxray_entity_end", "oxray_entity_free",
    "oxray_entity_id", "oxray_entity_is_sampled", "oxray_entity_outgoing_header", "oxray_entity_parent_id",
    "oxray_entity_put_annotation_bool", "oxray_entity_put_annotation_double", "oxray_entity_put_annotation_int64",
    "oxray_entity_put_annotation_string", "oxray_entity_put_metadata", "oxray_entity_send_in_progress",
    "oxray_entity_set_aws", "oxray_entity_set_cause_exception_id", "oxray_entity_set_error",
    "oxray_entity_set_fault", "oxray_entity_set_http_request", "oxray_entity_set_http_response",
    "oxray_entity_set_namespace", "oxray_entity_set_sql", "oxray_entity_set_throttle", "oxray_entity_trace_id",
    "oxray_last_error", "oxray_recorder_after_fork_child", "oxray_recorder_begin_segment",
    "oxray_recorder_begin_segment_for_request", "oxray_recorder_counters",
    "oxray_recorder_enable_centralized_sampling", "oxray_recorder_flush", "oxray_recorder_free",
    "oxray_recorder_lambda_facade", "oxray_recorder_new", "oxray_recorder_sampling_status",
    "oxray_recorder_set_sampling_rules", "oxray_recorder_take_documents", "oxray_sampling_rule_for",
    "oxray_sampling_rule_order", "oxray_status_name", "oxray_trace_header_format",
    "oxray_trace_header_normalize", "oxray_trace_header_parse", "oxray_version", NULL,
};

static uint64_t check_sink(const char *label, int sink, bool exact) {
    uint64_t arrived = 0, missing = 0;
    uint64_t problems = rc_ledger_check(sink, exact, &arrived, &missing);
    printf("  %-34s %10" PRIu64 " completed entities arrived, %" PRIu64 " missing%s\n", label, arrived, missing,
           exact ? "" : " (explained by drops)");
    return problems;
}

int main(int argc, char **argv) {
    options o = parse_options(argc, argv);
    unsetenv("AWS_XRAY_DAEMON_ADDRESS");
    unsetenv("AWS_XRAY_CONTEXT_MISSING");
    unsetenv("AWS_XRAY_SDK_ENABLED");
    unsetenv("AWS_XRAY_TRACING_NAME");
    unsetenv("AWS_LAMBDA_FUNCTION_NAME");
    unsetenv("_X_AMZN_TRACE_ID");
    rc_diagnostics_install();
    rc_sink_open(o.documents, 25);
    rc_listener *listener = rc_listener_start();
    make_recorders(rc_listener_port(listener));
    printf("random_calls: seeds %" PRIu64 "..%" PRIu64 ", %" PRIu64 " calls per phase, %d threads, depth <= %d, %s\n",
           o.first_seed, o.first_seed + o.seeds - 1, o.calls, o.threads, o.max_depth,
           o.huge ? "megabyte strings" : "no megabyte strings");
    for (uint64_t seed = o.first_seed; seed < o.first_seed + o.seeds; seed++) {
        single_thread_phase(seed, &o, rc_listener_port(listener));
        threads_phase(seed, &o);
        printf("  seed %" PRIu64 ": %" PRIu64 " calls so far, %" PRIu64 " violations\n", seed, rc_calls(),
               rc_violations());
        fflush(stdout);
    }

    /* Everything completed must now arrive: flush, take, and let the listener drain. */
    rc_where(0, 0, 0);
    for (int r = 0; r < R_FIXED_COUNT; r++) {
        rc_expect("oxray_recorder_flush", oxray_recorder_flush(recorders[r].handle, 30000), RC_OK);
        if (recorders[r].memory) {
            rc_sink_take(recorders[r].handle, recorders[r].sink);
        }
    }
    oxray_counters udp, background;
    rc_expect("oxray_recorder_counters", oxray_recorder_counters(recorders[R_UDP].handle, &udp), RC_OK);
    rc_expect("oxray_recorder_counters", oxray_recorder_counters(recorders[R_BACKGROUND].handle, &background), RC_OK);
    rc_listener_settle(listener, UINT64_MAX);
    long kernel_drops = rc_listener_kernel_drops(listener);
    uint64_t udp_lost = udp.dropped + background.dropped + (kernel_drops > 0 ? (uint64_t)kernel_drops : 0);

    printf("documents: %" PRIu64 " judged (%" PRIu64 " by UDP), largest %" PRIu64 " bytes\n", rc_sink_documents(),
           rc_listener_received(listener), rc_sink_largest());
    printf("udp: kernel drops %ld, recorder drops %" PRIu64 ", send errors %" PRIu64 "\n", kernel_drops,
           udp.dropped + background.dropped, udp.send_errors + background.send_errors);
    uint64_t problems = 0;
    problems += check_sink("memory (max 3 embedded children)", recorders[R_MEMORY].sink, true);
    problems += check_sink("memory (RUNTIME_ERROR, 2 KB embedded)", recorders[R_RUNTIME_ERROR].sink, true);
    problems += check_sink("memory (tracing disabled)", recorders[R_DISABLED].sink, true);
    problems += check_sink("memory (random sampling rules)", recorders[R_RULES].sink, true);
    problems += check_sink("udp (udp, background, freed recorders)", RC_SINK_UDP, udp_lost == 0);

    for (int r = 0; r < R_FIXED_COUNT; r++) {
        oxray_recorder_free(recorders[r].handle);
        rc_count("oxray_recorder_free");
    }
    rc_listener_stop(listener);
    rc_expect("oxray_diagnostics_set_callback", oxray_diagnostics_set_callback(NULL, NULL), RC_OK);
    rc_sink_close();

    printf("calls per function:\n");
    int functions = rc_print_coverage();
    bool all = rc_all_called(EVERY_FUNCTION);
    printf("random_calls: %" PRIu64 " calls of %d functions, %lu diagnostics, %" PRIu64 " violations, %" PRIu64
           " delivery problems\n",
           rc_calls(), functions, rc_diagnostics_received(), rc_violations(), problems);
    return rc_violations() == 0 && problems == 0 && all ? 0 : 1;
}
