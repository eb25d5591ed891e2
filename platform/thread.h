/*
 * Threads seam: one worker thread, a mutex and an event (a condition with a
 * timed wait). Heap objects: create returns NULL on failure, destroy is safe
 * on NULL.
 */
#ifndef CNP_PLATFORM_THREAD_H
#define CNP_PLATFORM_THREAD_H

#include <stdint.h>

struct cnp_thread;
struct cnp_mutex;
struct cnp_event;

/* Starts fn(arg) on a new thread. CNP_ERR_NOMEM or CNP_ERR_IO on failure. */
int cnp_thread_start(struct cnp_thread **thread, void (*fn)(void *), void *arg);
/* Waits for the thread to return and frees it. */
void cnp_thread_join(struct cnp_thread *thread);

struct cnp_mutex *cnp_mutex_create(void);
void cnp_mutex_destroy(struct cnp_mutex *m);
void cnp_mutex_lock(struct cnp_mutex *m);
void cnp_mutex_unlock(struct cnp_mutex *m);

/*
 * An auto-reset event: cnp_event_signal() wakes one waiter, or the next
 * one to wait if nobody waits now.
 */
struct cnp_event *cnp_event_create(void);
void cnp_event_destroy(struct cnp_event *e);
void cnp_event_signal(struct cnp_event *e);
/* Waits until signalled or `timeout_us` passes. Returns 1 if signalled. */
int cnp_event_wait(struct cnp_event *e, uint64_t timeout_us);

#endif
