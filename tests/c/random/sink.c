/* See sink.h. */
#define _GNU_SOURCE /* memmem */
#include "sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../json_reader.h"
#include "expect.h"
#include "inputs.h"

#define FRAME_HEADER "{\"format\":\"json\",\"version\":1}\n"
#define MAX_DOCUMENT_BYTES 64000

typedef struct id_list {
    uint64_t *ids;
    size_t count, capacity;
} id_list;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static id_list ledger[RC_MAX_SINKS];
static id_list arrived[RC_MAX_SINKS];
static FILE *documents_file;
static unsigned sample_every = 1;
static _Atomic uint64_t documents_seen;
static _Atomic uint64_t largest;

static void push(id_list *l, uint64_t id) {
    if (l->count == l->capacity) {
        l->capacity = l->capacity ? l->capacity * 2 : 1024;
        l->ids = realloc(l->ids, l->capacity * sizeof *l->ids);
        if (!l->ids) {
            abort();
        }
    }
    l->ids[l->count++] = id;
}

static bool parse_id(const char *s, uint64_t *out) {
    if (!s || strlen(s) != 16) {
        return false;
    }
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            return false;
        }
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

void rc_sink_open(const char *path, unsigned every) {
    sample_every = every ? every : 1;
    if (path) {
        documents_file = fopen(path, "w");
        if (!documents_file) {
            fprintf(stderr, "cannot open %s\n", path);
            exit(2);
        }
    }
}

void rc_sink_close(void) {
    if (documents_file) {
        fclose(documents_file);
        documents_file = NULL;
    }
    for (int i = 0; i < RC_MAX_SINKS; i++) {
        free(ledger[i].ids);
        free(arrived[i].ids);
        ledger[i] = arrived[i] = (id_list){NULL, 0, 0};
    }
}

/* Collects the ids of completed entities (end_time present) of one entity tree. */
static void walk(const json_value *entity, int sink, bool top, int *problems) {
    if (!entity || entity->type != JSON_OBJECT) {
        (*problems)++;
        rc_fail("document", "an entity is not a JSON object");
        return;
    }
    uint64_t id;
    if (!parse_id(json_get_string(entity, "id"), &id)) {
        (*problems)++;
        rc_fail("document", "an entity id is not 16 lowercase hex digits");
        return;
    }
    const json_value *end = json_get(entity, "end_time");
    const json_value *in_progress = json_get(entity, "in_progress");
    bool open = in_progress && in_progress->type == JSON_BOOL && in_progress->boolean;
    if ((end != NULL) == open || !json_get_string(entity, "name") || !json_get(entity, "start_time")) {
        (*problems)++;
        rc_fail("document", "an entity lacks name/start_time or has not exactly one of end_time, in_progress");
    }
    if (top && !json_get_string(entity, "trace_id")) {
        (*problems)++;
        rc_fail("document", "a document has no trace_id");
    }
    if (end) {
        pthread_mutex_lock(&lock);
        push(&arrived[sink], id);
        pthread_mutex_unlock(&lock);
    }
    const json_value *children = json_get(entity, "subsegments");
    for (size_t i = 0; children && i < children->count; i++) {
        walk(children->items[i], sink, false, problems);
    }
}

void rc_sink_document(int sink, const char *json, size_t len) {
    atomic_fetch_add(&documents_seen, 1);
    uint64_t big = atomic_load(&largest);
    while (len > big && !atomic_compare_exchange_weak(&largest, &big, len)) {
    }
    if (len > MAX_DOCUMENT_BYTES) {
        rc_fail("document", "a document is over 64,000 bytes");
    }
    if (memmem(json, len, RC_LEAK_MARKER, strlen(RC_LEAK_MARKER))) {
        rc_fail("document", "a document holds text that followed an embedded NUL");
    }
    char *text = malloc(len + 1);
    memcpy(text, json, len);
    text[len] = '\0';
    char error[200];
    json_value *doc = json_parse(text, error, sizeof error);
    if (!doc || doc->type != JSON_OBJECT) {
        char what[400];
        snprintf(what, sizeof what, "a document is not a JSON object (%s): %.120s", doc ? "not an object" : error, text);
        rc_fail("document", what);
    } else {
        int problems = 0;
        walk(doc, sink, true, &problems);
    }
    json_free(doc);
    uint64_t n = atomic_load(&documents_seen);
    if (documents_file && (n <= 1000 || n % sample_every == 0)) {
        pthread_mutex_lock(&lock);
        fwrite(text, 1, len, documents_file);
        fputc('\n', documents_file);
        pthread_mutex_unlock(&lock);
    }
    free(text);
}

void rc_sink_take(const oxray_recorder *recorder, int sink) {
    size_t needed = 0;
    oxray_status s = oxray_recorder_take_documents(recorder, NULL, 0, &needed);
    if (!rc_expect("oxray_recorder_take_documents", s, RC_BIT(OXRAY_BUFFER_TOO_SMALL)) || needed < 3) {
        return;
    }
    /* Documents may arrive between the two calls: ask again while the buffer is short. */
    for (int attempt = 0; attempt < 100; attempt++) {
        char *buf = malloc(needed);
        size_t again = 0;
        s = oxray_recorder_take_documents(recorder, buf, needed, &again);
        if (s == OXRAY_BUFFER_TOO_SMALL) {
            rc_expect("oxray_recorder_take_documents", s, RC_BIT(OXRAY_BUFFER_TOO_SMALL));
            if (buf[0] != '\0' || again <= needed) {
                rc_fail("oxray_recorder_take_documents", "a short buffer was not emptied or *needed did not grow");
            }
            free(buf);
            needed = again;
            continue;
        }
        rc_expect("oxray_recorder_take_documents", s, RC_OK);
        char error[200];
        json_value *array = json_parse(buf, error, sizeof error);
        if (!array || array->type != JSON_ARRAY) {
            rc_fail("oxray_recorder_take_documents", "the documents are not a JSON array");
        } else {
            for (size_t i = 0; i < array->count; i++) {
                rc_sink_document(sink, array->items[i]->raw, array->items[i]->raw_len);
            }
        }
        json_free(array);
        free(buf);
        return;
    }
    rc_fail("oxray_recorder_take_documents", "the buffer was short 100 times in a row");
}

void rc_ledger_ended(int sink, const char *id) {
    uint64_t v;
    if (!parse_id(id, &v)) {
        rc_fail("oxray_entity_id", "an id is not 16 lowercase hex digits");
        return;
    }
    pthread_mutex_lock(&lock);
    push(&ledger[sink], v);
    pthread_mutex_unlock(&lock);
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t rc_ledger_check(int sink, bool exact, uint64_t *arrived_count, uint64_t *missing) {
    pthread_mutex_lock(&lock);
    id_list *want = &ledger[sink], *got = &arrived[sink];
    if (want->count > 1) {
        qsort(want->ids, want->count, sizeof *want->ids, by_value);
    }
    if (got->count > 1) {
        qsort(got->ids, got->count, sizeof *got->ids, by_value);
    }
    uint64_t problems = 0, lost = 0;
    size_t i = 0, j = 0;
    char what[160];
    while (i < want->count || j < got->count) {
        if (j < got->count && j > 0 && got->ids[j] == got->ids[j - 1]) {
            snprintf(what, sizeof what, "entity %016llx arrived twice", (unsigned long long)got->ids[j]);
            rc_fail("ledger", what);
            problems++;
            j++;
        } else if (i < want->count && (j == got->count || want->ids[i] < got->ids[j])) {
            lost++;
            if (exact) {
                snprintf(what, sizeof what, "entity %016llx was ended but never arrived",
                         (unsigned long long)want->ids[i]);
                rc_fail("ledger", what);
                problems++;
            }
            i++;
        } else if (i == want->count || got->ids[j] < want->ids[i]) {
            snprintf(what, sizeof what, "entity %016llx arrived completed but was never ended",
                     (unsigned long long)got->ids[j]);
            rc_fail("ledger", what);
            problems++;
            j++;
        } else {
            i++;
            j++;
        }
    }
    *arrived_count = got->count;
    *missing = lost;
    pthread_mutex_unlock(&lock);
    return problems;
}

uint64_t rc_sink_documents(void) {
    return atomic_load(&documents_seen);
}

uint64_t rc_sink_largest(void) {
    return atomic_load(&largest);
}

struct rc_listener {
    int fd;
    int port;
    pthread_t thread;
    _Atomic bool stop;
    _Atomic uint64_t received;
    _Atomic uint64_t bad_frames;
};

static void *listen_loop(void *arg) {
    rc_listener *l = arg;
    char *buf = malloc(65536);
    size_t header_len = strlen(FRAME_HEADER);
    while (!atomic_load(&l->stop)) {
        ssize_t n = recv(l->fd, buf, 65536, 0);
        if (n <= 0) {
            continue; /* the read timeout: look at the stop flag */
        }
        atomic_fetch_add(&l->received, 1);
        if ((size_t)n <= header_len || memcmp(buf, FRAME_HEADER, header_len) != 0) {
            atomic_fetch_add(&l->bad_frames, 1);
            rc_fail("udp", "a datagram does not start with the daemon header line");
            continue;
        }
        rc_sink_document(RC_SINK_UDP, buf + header_len, (size_t)n - header_len);
    }
    free(buf);
    return NULL;
}

rc_listener *rc_listener_start(void) {
    rc_listener *l = calloc(1, sizeof *l);
    l->fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        getsockname(l->fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("udp listener");
        exit(2);
    }
    l->port = ntohs(addr.sin_port);
    int size = 64 << 20;
    /* SO_RCVBUFFORCE (root) passes net.core.rmem_max; otherwise ask for what is allowed. */
    if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    struct timeval tick = {0, 100000};
    setsockopt(l->fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    pthread_create(&l->thread, NULL, listen_loop, l);
    return l;
}

int rc_listener_port(const rc_listener *l) {
    return l->port;
}

uint64_t rc_listener_received(const rc_listener *l) {
    return atomic_load(&((rc_listener *)l)->received);
}

void rc_listener_settle(rc_listener *l, uint64_t expected) {
    uint64_t last = rc_listener_received(l);
    int quiet_ticks = 0;
    /* Not a time bound on the test: only how long silence means "nothing more is coming". */
    while (last < expected && quiet_ticks < 50) {
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
        uint64_t now = rc_listener_received(l);
        quiet_ticks = now == last ? quiet_ticks + 1 : 0;
        last = now;
    }
}

long rc_listener_kernel_drops(const rc_listener *l) {
    FILE *f = fopen("/proc/net/udp", "r");
    if (!f) {
        return -1;
    }
    char line[512], want[16];
    snprintf(want, sizeof want, ":%04X ", (unsigned)l->port);
    long drops = -1;
    if (fgets(line, sizeof line, f)) { /* the column titles */
        while (fgets(line, sizeof line, f)) {
            char local[80];
            if (sscanf(line, "%*s %63s", local) == 1 && strstr(strcat(local, " "), want)) {
                char *last = strrchr(line, ' ');
                drops = last ? strtol(last + 1, NULL, 10) : -1;
            }
        }
    }
    fclose(f);
    return drops;
}

void rc_listener_stop(rc_listener *l) {
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    close(l->fd);
    free(l);
}
