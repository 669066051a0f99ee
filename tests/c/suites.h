/* The test suites, one per file; main.c runs them all. */
#ifndef OXRAY_TEST_SUITES_H
#define OXRAY_TEST_SUITES_H

void suite_status(void);
void suite_recorder(void);
void suite_entity(void);
void suite_fields(void);
void suite_current(void);
void suite_diagnostics(void);
void suite_headers(void);
void suite_vectors(void);
void suite_udp(void);
void suite_sampling(void);

#endif
