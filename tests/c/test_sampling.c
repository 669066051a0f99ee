/* Sampling through the C API: local rules (set, refused with the field named), segments sampled
 * by request attributes, the shared vectors (tests/vectors/sampling_rules.json) through
 * oxray_sampling_rule_for / oxray_sampling_rule_order, and centralized sampling against a
 * stub of the daemon's sampling proxy on 127.0.0.1 (and against a closed port). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define RULES_NOTHING "{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":0}}"
#define RULES_ORDERS                                                                           \
    "{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":0},\"rules\":[{\"description\":"  \
    "\"orders\",\"host\":\"*\",\"http_method\":\"POST\",\"url_path\":\"/orders/*\","           \
    "\"fixed_target\":0,\"rate\":1}]}"

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static oxray_sampling_request request_for(const char *method, const char *path) {
    oxray_sampling_request r;
    memset(&r, 0, sizeof r);
    r.method = method;
    r.url_path = path;
    return r;
}

/* Begins and ends a segment for the request; returns whether it was sampled. */
static bool sampled(oxray_recorder *recorder, const char *header, const oxray_sampling_request *request) {
    oxray_entity *segment = NULL;
    CHECK_OK(oxray_recorder_begin_segment_for_request(recorder, "shop", header, request, &segment));
    bool is_sampled = false;
    CHECK_OK(oxray_entity_is_sampled(segment, &is_sampled));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    return is_sampled;
}

static void local_rules_decide_and_bad_rules_change_nothing(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_sampling_request orders = request_for("POST", "/orders/7");
    oxray_sampling_request cart = request_for("GET", "/cart");
    CHECK(sampled(recorder, NULL, &cart)); /* memory mode: everything, until rules are set */

    CHECK_OK(oxray_recorder_set_sampling_rules(recorder, RULES_ORDERS));
    CHECK(sampled(recorder, NULL, &orders));
    CHECK(!sampled(recorder, NULL, &cart));
    CHECK(sampled(recorder, NULL, NULL)); /* absent attributes match any pattern */
    /* Upstream decisions win over the rules. */
    CHECK(sampled(recorder, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", &cart));
    CHECK(!sampled(recorder, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0", &orders));

    CHECK_STATUS(oxray_recorder_set_sampling_rules(
                     recorder, "{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":0},\"rules\":[{}]}"),
                 OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "rules[0].host: is required") != NULL);
    CHECK_STATUS(oxray_recorder_set_sampling_rules(recorder, "/nonexistent/sampling.json"), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "cannot be read") != NULL);
    CHECK_STATUS(oxray_recorder_set_sampling_rules(recorder, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_recorder_set_sampling_rules(recorder, HARNESS_BAD_UTF8), OXRAY_INVALID_UTF8);
    CHECK(sampled(recorder, NULL, &orders)); /* the previous rules stay in force */

    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 5);
    harness_documents_free(&docs);

    CHECK_OK(oxray_recorder_set_sampling_rules(recorder, RULES_NOTHING));
    CHECK(!sampled(recorder, NULL, &orders));
    oxray_recorder_free(recorder);
}

static void begin_segment_for_request_refuses_bad_arguments(void) {
    oxray_recorder *recorder = harness_memory_recorder("");
    oxray_entity *segment = HARNESS_BOGUS_ENTITY;
    oxray_sampling_request bad = request_for(HARNESS_BAD_UTF8, "/x");
    CHECK_STATUS(oxray_recorder_begin_segment_for_request(recorder, "s", NULL, &bad, &segment), OXRAY_INVALID_UTF8);
    CHECK(segment == NULL);
    CHECK(strstr(harness_last_error(), "request->method") != NULL);
    CHECK_STATUS(oxray_recorder_begin_segment_for_request(recorder, "s", NULL, NULL, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_recorder_begin_segment_for_request(HARNESS_BOGUS_RECORDER, "s", NULL, NULL, &segment),
                 OXRAY_INVALID_HANDLE);
    /* A malformed incoming header starts a new trace (logged, counted), as begin_segment does. */
    CHECK_OK(oxray_recorder_begin_segment_for_request(recorder, "s", "Root=nope", NULL, &segment));
    CHECK_OK(oxray_entity_end(segment));
    oxray_entity_free(segment);
    oxray_counters c;
    CHECK_OK(oxray_recorder_counters(recorder, &c));
    CHECK(c.warnings == 1);
    harness_documents docs = harness_take_documents(recorder);
    CHECK(harness_documents_count(&docs) == 1);
    harness_documents_free(&docs);

    oxray_sampling_status status;
    CHECK_STATUS(oxray_recorder_sampling_status(recorder, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_recorder_sampling_status(HARNESS_BOGUS_RECORDER, &status), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_enable_centralized_sampling(HARNESS_BOGUS_RECORDER), OXRAY_INVALID_HANDLE);
    CHECK_STATUS(oxray_recorder_set_sampling_rules(HARNESS_BOGUS_RECORDER, RULES_NOTHING), OXRAY_INVALID_HANDLE);
    oxray_recorder_free(recorder);
}

/* ---- the shared vectors ---- */

static char *raw_copy(const json_value *v) {
    char *s = malloc(v->raw_len + 1);
    memcpy(s, v->raw, v->raw_len);
    s[v->raw_len] = '\0';
    return s;
}

static oxray_sampling_request request_of(const json_value *r) {
    oxray_sampling_request q;
    q.host = json_get_string(r, "host");
    q.method = json_get_string(r, "method");
    q.url_path = json_get_string(r, "url_path");
    q.service_name = json_get_string(r, "service_name");
    q.service_type = json_get_string(r, "service_type");
    return q;
}

/* Runs the cases of one rule set; centralized sets also check the usable rules' order. */
static size_t run_rule_set(const json_value *set, bool centralized) {
    char *rules = raw_copy(json_get(set, "rules"));
    const json_value *cases = json_get(set, "cases");
    size_t ran = 0;
    for (size_t i = 0; cases && i < cases->count; i++) {
        const json_value *expected = json_get(cases->items[i], "rule");
        oxray_sampling_request q = request_of(json_get(cases->items[i], "request"));
        char got[128];
        CHECK_OK(oxray_sampling_rule_for(rules, &q, got, sizeof got, NULL));
        const char *want = expected->type == JSON_STRING ? expected->string : "";
        if (!CHECK_STR(got, want)) {
            fprintf(stderr, "      set %s, case %zu\n", json_get_string(set, "name"), i);
        }
        ran++;
    }
    if (centralized) {
        size_t needed = 0;
        CHECK_STATUS(oxray_sampling_rule_order(rules, NULL, 0, &needed), OXRAY_BUFFER_TOO_SMALL);
        char *order = malloc(needed);
        CHECK_OK(oxray_sampling_rule_order(rules, order, needed, NULL));
        json_value *parsed = json_parse(order, NULL, 0);
        CHECK(parsed && json_equal(parsed, json_get(set, "usable")));
        json_free(parsed);
        free(order);
    }
    free(rules);
    return ran;
}

static void shared_vectors(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/sampling_rules.json", harness_vectors_dir);
    char *text = json_read_file(path);
    if (!CHECK(text != NULL)) {
        return;
    }
    json_value *v = json_parse(text, NULL, 0);
    const json_value *local = json_get(v, "local");
    const json_value *central = json_get(v, "centralized");
    const json_value *invalid = json_get(v, "invalid_local");
    if (!CHECK(local && central && invalid && local->count > 0 && central->count > 0 && invalid->count > 0)) {
        json_free(v);
        free(text);
        return;
    }
    size_t ran = 0;
    for (size_t i = 0; i < local->count; i++) {
        ran += run_rule_set(local->items[i], false);
    }
    for (size_t i = 0; i < central->count; i++) {
        ran += run_rule_set(central->items[i], true);
    }
    CHECK(ran >= 30);
    for (size_t i = 0; i < invalid->count; i++) {
        char *rules = raw_copy(json_get(invalid->items[i], "rules"));
        char got[64];
        CHECK_STATUS(oxray_sampling_rule_for(rules, NULL, got, sizeof got, NULL), OXRAY_INVALID_ARGUMENT);
        char prefix[128];
        snprintf(prefix, sizeof prefix, "%s: ", json_get_string(invalid->items[i], "field"));
        if (!CHECK(strncmp(harness_last_error(), prefix, strlen(prefix)) == 0)) {
            fprintf(stderr, "      %s: got %s\n", json_get_string(invalid->items[i], "name"), harness_last_error());
        }
        CHECK_STATUS(oxray_sampling_rule_order(rules, got, sizeof got, NULL), OXRAY_INVALID_ARGUMENT);
        free(rules);
    }
    /* Buffer convention and bad input. */
    size_t needed = 0;
    char tiny[3];
    CHECK_STATUS(oxray_sampling_rule_for(RULES_NOTHING, NULL, tiny, sizeof tiny, &needed), OXRAY_BUFFER_TOO_SMALL);
    CHECK(needed == strlen("default") + 1);
    CHECK_STATUS(oxray_sampling_rule_for(NULL, NULL, tiny, sizeof tiny, NULL), OXRAY_NULL_ARGUMENT);
    CHECK_STATUS(oxray_sampling_rule_order(HARNESS_BAD_UTF8, tiny, sizeof tiny, NULL), OXRAY_INVALID_UTF8);
    json_free(v);
    free(text);
}

/* ---- centralized sampling against a stub proxy ---- */

typedef struct proxy_stub {
    int fd;
    int port;
    pthread_t thread;
    int rule_requests;
    int target_requests;
    pthread_mutex_t lock;
} proxy_stub;

static const char STUB_RULES[] =
    "{\"SamplingRuleRecords\":[{\"SamplingRule\":{\"RuleName\":\"orders\",\"ResourceARN\":\"*\","
    "\"Priority\":1,\"FixedRate\":1,\"ReservoirSize\":0,\"ServiceName\":\"*\",\"ServiceType\":\"*\","
    "\"Host\":\"*\",\"HTTPMethod\":\"*\",\"URLPath\":\"/orders/*\",\"Version\":1,\"Attributes\":{}}},"
    "{\"SamplingRule\":{\"RuleName\":\"Default\",\"ResourceARN\":\"*\",\"Priority\":10000,\"FixedRate\":0,"
    "\"ReservoirSize\":0,\"ServiceName\":\"*\",\"ServiceType\":\"*\",\"Host\":\"*\",\"HTTPMethod\":\"*\","
    "\"URLPath\":\"*\",\"Version\":1}}]}";
static const char STUB_TARGETS[] = "{\"SamplingTargetDocuments\":[],\"UnprocessedStatistics\":[]}";

static void *serve(void *arg) {
    proxy_stub *stub = arg;
    for (;;) {
        int conn = accept(stub->fd, NULL, NULL);
        if (conn < 0) {
            return NULL; /* the listening socket was shut down */
        }
        char buf[8192];
        size_t used = 0;
        ssize_t n;
        while (used < sizeof buf - 1 && (n = recv(conn, buf + used, sizeof buf - 1 - used, 0)) > 0) {
            used += (size_t)n;
            buf[used] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            const char *length = strstr(buf, "Content-Length: ");
            if (end && length && used >= (size_t)(end + 4 - buf) + (size_t)atoi(length + 16)) {
                break;
            }
        }
        buf[used] = '\0';
        bool rules = strncmp(buf, "POST /GetSamplingRules ", 23) == 0;
        pthread_mutex_lock(&stub->lock);
        if (rules) {
            stub->rule_requests++;
        } else {
            stub->target_requests++;
        }
        pthread_mutex_unlock(&stub->lock);
        const char *body = rules ? STUB_RULES : STUB_TARGETS;
        char head[128];
        int head_len = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", strlen(body));
        send(conn, head, (size_t)head_len, 0);
        send(conn, body, strlen(body), 0);
        close(conn);
    }
}

static void stub_start(proxy_stub *stub) {
    memset(stub, 0, sizeof *stub);
    pthread_mutex_init(&stub->lock, NULL);
    stub->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(stub->fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(stub->fd, 16) == 0);
    socklen_t len = sizeof addr;
    CHECK(getsockname(stub->fd, (struct sockaddr *)&addr, &len) == 0);
    stub->port = ntohs(addr.sin_port);
    CHECK(pthread_create(&stub->thread, NULL, serve, stub) == 0);
}

static void stub_stop(proxy_stub *stub) {
    shutdown(stub->fd, SHUT_RDWR);
    pthread_join(stub->thread, NULL);
    close(stub->fd);
    pthread_mutex_destroy(&stub->lock);
}

static oxray_sampling_status status_of(const oxray_recorder *recorder) {
    oxray_sampling_status s;
    memset(&s, 0, sizeof s);
    CHECK_OK(oxray_recorder_sampling_status(recorder, &s));
    return s;
}

static void centralized_rules_from_a_stub_proxy(void) {
    proxy_stub stub;
    stub_start(&stub);
    char config[256];
    snprintf(config, sizeof config,
             "{\"emit_mode\":\"memory\",\"daemon_address\":\"tcp:127.0.0.1:%d udp:127.0.0.1:9\","
             "\"centralized_sampling\":true}",
             stub.port);
    oxray_recorder *recorder = NULL;
    CHECK_OK(oxray_recorder_new(config, &recorder));
    /* Bounded wait for the first fetch (a guard, not a timing assertion). */
    for (int i = 0; i < 6000 && status_of(recorder).rule_fetches == 0; i++) {
        sleep_ms(10);
    }
    oxray_sampling_status s = status_of(recorder);
    CHECK(s.centralized && s.polling && s.using_service_rules);
    CHECK(s.rule_fetches == 1 && s.rules_cached == 2 && s.errors == 0);

    oxray_sampling_request orders = request_for("GET", "/orders/1");
    oxray_sampling_request cart = request_for("GET", "/cart");
    CHECK(sampled(recorder, NULL, &orders));
    CHECK(!sampled(recorder, NULL, &cart));
    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK_STR(json_get_string(json_get(json_get(doc, "aws"), "xray"), "sampling_rule_name"), "orders");
    harness_documents_free(&docs);
    CHECK_OK(oxray_recorder_enable_centralized_sampling(recorder)); /* again: no change */
    oxray_recorder_free(recorder);
    stub_stop(&stub);
    CHECK(stub.rule_requests >= 1);
}

static void centralized_sampling_with_nobody_listening_falls_back(void) {
    /* A port that was just free: connections are refused. */
    proxy_stub probe;
    stub_start(&probe);
    int port = probe.port;
    stub_stop(&probe);
    char config[256];
    snprintf(config, sizeof config, "{\"emit_mode\":\"memory\",\"daemon_address\":\"127.0.0.1:%d\"}", port);
    oxray_recorder *recorder = NULL;
    CHECK_OK(oxray_recorder_new(config, &recorder));
    CHECK_OK(oxray_recorder_set_sampling_rules(recorder, RULES_ORDERS));
    CHECK_OK(oxray_recorder_enable_centralized_sampling(recorder));
    for (int i = 0; i < 6000 && status_of(recorder).errors == 0; i++) {
        sleep_ms(10);
    }
    oxray_sampling_status s = status_of(recorder);
    CHECK(s.centralized && !s.using_service_rules && s.errors >= 1 && s.rule_fetches == 0);
    CHECK(harness_diagnostics_contain("centralized sampling"));
    oxray_sampling_request orders = request_for("POST", "/orders/1");
    oxray_sampling_request cart = request_for("GET", "/cart");
    CHECK(sampled(recorder, NULL, &orders)); /* the local rules decide */
    CHECK(!sampled(recorder, NULL, &cart));
    harness_documents docs = harness_take_documents(recorder);
    const json_value *doc = harness_only_document(&docs);
    CHECK(json_get(json_get(json_get(doc, "aws"), "xray"), "sampling_rule_name") == NULL);
    harness_documents_free(&docs);
    oxray_recorder_free(recorder);

    oxray_recorder *lambda = harness_memory_recorder("\"lambda\":true");
    CHECK_STATUS(oxray_recorder_enable_centralized_sampling(lambda), OXRAY_INVALID_ARGUMENT);
    CHECK(strstr(harness_last_error(), "Lambda") != NULL);
    CHECK(!status_of(lambda).centralized);
    oxray_recorder_free(lambda);
}

void suite_sampling(void) {
    RUN(local_rules_decide_and_bad_rules_change_nothing);
    RUN(begin_segment_for_request_refuses_bad_arguments);
    RUN(shared_vectors);
    RUN(centralized_rules_from_a_stub_proxy);
    RUN(centralized_sampling_with_nobody_listening_falls_back);
}
