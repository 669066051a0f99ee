/* Where the random harness's documents go and how they are judged: every document (taken from
 * a memory-mode recorder, or received on a real UDP listener on 127.0.0.1) must be at most
 * 64,000 bytes, parse as a JSON object with the top-level fields, never contain text that
 * followed an embedded NUL, and its completed entities are matched against the ledger of
 * entities the harness ended: each exactly once, and nothing else. A sample goes to a file
 * that bindings/c/test.sh validates against the schema and the receivers' rules. */
#ifndef OXRAY_RANDOM_SINK_H
#define OXRAY_RANDOM_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oxray.h"

/* Sinks: 0..RC_MAX_SINKS-2 are memory recorders (by index), RC_SINK_UDP the listener. */
#define RC_MAX_SINKS 8
#define RC_SINK_UDP (RC_MAX_SINKS - 1)

/* `documents_path` may be NULL; the first 1,000 documents and then one in `sample_every` are
 * written there. */
void rc_sink_open(const char *documents_path, unsigned sample_every);
void rc_sink_close(void);

/* Judges one document (its exact bytes) that arrived through `sink`. */
void rc_sink_document(int sink, const char *json, size_t len);

/* oxray_recorder_take_documents with the size protocol, checked, each document judged. */
void rc_sink_take(const oxray_recorder *recorder, int sink);

/* The harness ended this sampled entity with OK: it must arrive through `sink`. */
void rc_ledger_ended(int sink, const char *id);

/* Compares what arrived with the ledger of `sink`. When `exact`, every ended entity must have
 * arrived; otherwise only that nothing arrived twice or unasked, and how many are missing is
 * returned in *missing. Returns the number of problems. */
uint64_t rc_ledger_check(int sink, bool exact, uint64_t *arrived, uint64_t *missing);

uint64_t rc_sink_documents(void);
uint64_t rc_sink_largest(void);

/* A UDP listener on 127.0.0.1 with a large receive buffer, on its own thread. */
typedef struct rc_listener rc_listener;
rc_listener *rc_listener_start(void);
int rc_listener_port(const rc_listener *l);
uint64_t rc_listener_received(const rc_listener *l);
/* Waits until `expected` datagrams arrived or none came for a few seconds. */
void rc_listener_settle(rc_listener *l, uint64_t expected);
/* The kernel's count of datagrams it dropped on this socket (/proc/net/udp), or -1. */
long rc_listener_kernel_drops(const rc_listener *l);
void rc_listener_stop(rc_listener *l);

#endif
