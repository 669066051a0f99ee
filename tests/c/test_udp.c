/* Real UDP: a listener on 127.0.0.1 (ephemeral port) receives what recorders send. Also the
 * fork hook, with a real fork(). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define FRAME_HEADER "{\"format\":\"json\",\"version\":1}\n"
#define HEADER_SAMPLED "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

typedef struct listener {
    int fd;
    int port;
} listener;

static listener open_listener(void) {
    listener l = {socket(AF_INET, SOCK_DGRAM, 0), 0};
    CHECK(l.fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    CHECK(bind(l.fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    socklen_t len = sizeof addr;
    CHECK(getsockname(l.fd, (struct sockaddr *)&addr, &len) == 0);
    l.port = ntohs(addr.sin_port);
    int size = 1 << 20;
    setsockopt(l.fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    /* Only so that a lost datagram fails the test instead of hanging it. */
    struct timeval patience = {30, 0};
    setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    return l;
}

/* A received datagram: its frame header is checked, its body recorded and parsed. */
typedef struct datagram {
    char *body;
    size_t body_len;
    json_value *doc;
} datagram;

static datagram receive(const listener *l) {
    datagram d = {NULL, 0, NULL};
    char *buf = malloc(65536);
    ssize_t n = recv(l->fd, buf, 65535, 0);
    if (!CHECK(n > 0)) {
        fprintf(stderr, "      no datagram on port %d\n", l->port);
        free(buf);
        return d;
    }
    buf[n] = '\0';
    size_t header_len = strlen(FRAME_HEADER);
    if (!CHECK((size_t)n > header_len && memcmp(buf, FRAME_HEADER, header_len) == 0)) {
        fprintf(stderr, "      bad frame: %.60s\n", buf);
        free(buf);
        return d;
    }
    d.body_len = (size_t)n - header_len;
    d.body = malloc(d.body_len + 1);
    memcpy(d.body, buf + header_len, d.body_len + 1);
    free(buf);
    harness_record_document(d.body, d.body_len);
    char error[200];
    d.doc = json_parse(d.body, error, sizeof error);
    if (!CHECK(d.doc != NULL && d.doc->type == JSON_OBJECT)) {
        fprintf(stderr, "      body does not parse: %s\n", error);
    }
    return d;
}

static void datagram_free(datagram *d) {
    json_free(d->doc);
    free(d->body);
}

static oxray_recorder *udp_recorder(const listener *l, const char *mode) {
    char config[256];
    /* sample_rate 1: every trace recorded (the default rules take 1 per second, then 5%). */
    snprintf(config, sizeof config, "{\"daemon_address\":\"127.0.0.1:%d\",\"emit_mode\":\"%s\",\"sample_rate\":1}",
             l->port, mode);
    oxray_recorder *recorder = NULL;
    CHECK_OK(oxray_recorder_new(config, &recorder));
    return recorder;
}

static void segment_with_subsegment_arrives_framed(const char *mode) {
    listener l = open_listener();
    oxray_recorder *recorder = udp_recorder(&l, mode);
    oxray_entity *segment = NULL, *sub = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "udp-service", HEADER_SAMPLED, &segment));
    CHECK_OK(oxray_entity_put_annotation_string(segment, "mode", mode));
    CHECK_OK(oxray_entity_begin_subsegment(segment, "query", &sub));
    CHECK_OK(oxray_entity_set_namespace(sub, "remote"));
    CHECK_OK(oxray_entity_put_metadata(sub, "db", "rows", "[1,2,3]"));
    CHECK_OK(oxray_entity_end(sub));
    CHECK_OK(oxray_entity_end(segment));
    CHECK_OK(oxray_recorder_flush(recorder, 10000));
    char id[OXRAY_ENTITY_ID_SIZE], sub_id[OXRAY_ENTITY_ID_SIZE];
    harness_entity_id(segment, id);
    harness_entity_id(sub, sub_id);

    datagram d = receive(&l);
    CHECK_STR(json_get_string(d.doc, "name"), "udp-service");
    CHECK_STR(json_get_string(d.doc, "id"), id);
    CHECK_STR(json_get_string(d.doc, "trace_id"), "1-5759e988-bd862e3fe1be46a994272793");
    CHECK_STR(json_get_string(d.doc, "parent_id"), "53995c3f42cd8ad8");
    CHECK_STR(json_get_string(json_get(d.doc, "annotations"), "mode"), mode);
    const json_value *subs = json_get(d.doc, "subsegments");
    CHECK(subs && subs->count == 1);
    if (subs && subs->count == 1) {
        CHECK_STR(json_get_string(subs->items[0], "id"), sub_id);
        CHECK_STR(json_get_string(subs->items[0], "namespace"), "remote");
        const json_value *rows = json_get(json_get(json_get(subs->items[0], "metadata"), "db"), "rows");
        CHECK(rows && rows->type == JSON_ARRAY && rows->count == 3);
    }
    oxray_counters c;
    CHECK_OK(oxray_recorder_counters(recorder, &c));
    CHECK(c.sent == 1 && c.dropped == 0 && c.send_errors == 0);
    datagram_free(&d);
    oxray_entity_free(sub);
    oxray_entity_free(segment);
    oxray_recorder_free(recorder);
    close(l.fd);
}

static void udp_mode_sends_on_the_callers_thread(void) {
    segment_with_subsegment_arrives_framed("udp");
}

static void background_mode_sends_after_flush(void) {
    segment_with_subsegment_arrives_framed("background");
}

static void lambda_subsegments_arrive_standalone(void) {
    listener l = open_listener();
    oxray_recorder *recorder = udp_recorder(&l, "background");
    oxray_entity *facade = NULL, *handler = NULL, *work = NULL;
    CHECK_OK(oxray_recorder_lambda_facade(recorder, HEADER_SAMPLED, &facade));
    CHECK_OK(oxray_entity_begin_subsegment(facade, "## index.handler", &handler));
    CHECK_OK(oxray_entity_begin_subsegment(handler, "### work", &work));
    CHECK_OK(oxray_entity_put_annotation_bool(work, "ColdStart", true));
    CHECK_OK(oxray_entity_end(work));
    CHECK_OK(oxray_entity_end(handler));
    CHECK_OK(oxray_recorder_flush(recorder, 10000));

    datagram d = receive(&l);
    CHECK_STR(json_get_string(d.doc, "type"), "subsegment");
    CHECK_STR(json_get_string(d.doc, "name"), "## index.handler");
    CHECK_STR(json_get_string(d.doc, "parent_id"), "53995c3f42cd8ad8");
    CHECK_STR(json_get_string(d.doc, "trace_id"), "1-5759e988-bd862e3fe1be46a994272793");
    const json_value *subs = json_get(d.doc, "subsegments");
    CHECK(subs && subs->count == 1 && json_get(json_get(subs->items[0], "annotations"), "ColdStart") != NULL);
    datagram_free(&d);
    oxray_entity_free(work);
    oxray_entity_free(handler);
    oxray_entity_free(facade);
    oxray_recorder_free(recorder);
    close(l.fd);
}

static void oversized_document_is_cut_to_the_bound(void) {
    listener l = open_listener();
    oxray_recorder *recorder = udp_recorder(&l, "udp");
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "big", NULL, &segment));
    size_t n = 200 * 1000;
    char *big = malloc(n + 3);
    big[0] = '"';
    memset(big + 1, 'x', n);
    big[n + 1] = '"';
    big[n + 2] = '\0';
    CHECK_OK(oxray_entity_put_metadata(segment, NULL, "payload", big));
    free(big);
    CHECK_OK(oxray_entity_put_annotation_string(segment, "kept", "yes"));
    CHECK_OK(oxray_entity_end(segment));

    datagram d = receive(&l);
    CHECK(d.body_len <= 64000);
    CHECK_STR(json_get_string(json_get(d.doc, "annotations"), "kept"), "yes");
    const char *payload = json_get_string(json_get(json_get(d.doc, "metadata"), "default"), "payload");
    CHECK(payload && strstr(payload, "truncated") != NULL);
    oxray_counters c;
    CHECK_OK(oxray_recorder_counters(recorder, &c));
    CHECK(c.truncated == 1 && c.sent == 1);
    datagram_free(&d);
    oxray_entity_free(segment);
    oxray_recorder_free(recorder);
    close(l.fd);
}

/* After fork() the child reseeds ids and restarts the sender; without the reseed its ids
 * would repeat the parent's exactly. */
static void after_fork_child_restarts_sending_with_fresh_ids(void) {
    listener l = open_listener();
    oxray_recorder *recorder = udp_recorder(&l, "background");
    /* Start the sender and the id generator before forking. */
    oxray_entity *warmup = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "warmup", NULL, &warmup));
    CHECK_OK(oxray_entity_end(warmup));
    oxray_entity_free(warmup);
    CHECK_OK(oxray_recorder_flush(recorder, 10000));
    datagram first = receive(&l);
    datagram_free(&first);

    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        oxray_entity *segment = NULL;
        int ok = oxray_recorder_after_fork_child(recorder) == OXRAY_OK &&
                 oxray_recorder_begin_segment(recorder, "child", NULL, &segment) == OXRAY_OK &&
                 oxray_entity_end(segment) == OXRAY_OK && oxray_recorder_flush(recorder, 10000) == OXRAY_OK;
        _exit(ok ? 0 : 1); /* no atexit handlers, no leak check of the parent's heap copy */
    }
    CHECK(pid > 0);
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment(recorder, "parent", NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    CHECK_OK(oxray_recorder_flush(recorder, 10000));
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    datagram a = receive(&l);
    datagram b = receive(&l);
    const char *name_a = json_get_string(a.doc, "name");
    const char *name_b = json_get_string(b.doc, "name");
    CHECK(name_a && name_b && strcmp(name_a, name_b) != 0);
    CHECK(name_a && (strcmp(name_a, "child") == 0 || strcmp(name_a, "parent") == 0));
    CHECK(name_b && (strcmp(name_b, "child") == 0 || strcmp(name_b, "parent") == 0));
    const char *id_a = json_get_string(a.doc, "id");
    const char *id_b = json_get_string(b.doc, "id");
    CHECK(id_a && id_b && strcmp(id_a, id_b) != 0);
    const char *trace_a = json_get_string(a.doc, "trace_id");
    const char *trace_b = json_get_string(b.doc, "trace_id");
    CHECK(trace_a && trace_b && strcmp(trace_a + 11, trace_b + 11) != 0);
    datagram_free(&a);
    datagram_free(&b);
    oxray_entity_free(segment);
    oxray_recorder_free(recorder);
    close(l.fd);
}

void suite_udp(void) {
    RUN(udp_mode_sends_on_the_callers_thread);
    RUN(background_mode_sends_after_flush);
    RUN(lambda_subsegments_arrive_standalone);
    RUN(oversized_document_is_cut_to_the_bound);
    RUN(after_fork_child_restarts_sending_with_fresh_ids);
}
