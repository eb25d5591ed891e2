#include "platform/thread.h"

#include "firmware/alloc.h"
#include "firmware/error.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

struct cnp_thread {
	pthread_t tid;
	void (*fn)(void *);
	void *arg;
};

struct cnp_mutex {
	pthread_mutex_t m;
};

struct cnp_event {
	pthread_mutex_t m;
	pthread_cond_t c;
	int signalled;
};

static void *trampoline(void *p)
{
	struct cnp_thread *t = p;
	t->fn(t->arg);
	return NULL;
}

int cnp_thread_start(struct cnp_thread **thread, void (*fn)(void *), void *arg)
{
	struct cnp_thread *t = cnp_calloc(1, sizeof(*t));
	if (!t)
		return CNP_ERR_NOMEM;
	t->fn = fn;
	t->arg = arg;
	if (pthread_create(&t->tid, NULL, trampoline, t) != 0) {
		cnp_free(t);
		return CNP_ERR_IO;
	}
	*thread = t;
	return CNP_OK;
}

void cnp_thread_join(struct cnp_thread *t)
{
	if (!t)
		return;
	pthread_join(t->tid, NULL);
	cnp_free(t);
}

struct cnp_mutex *cnp_mutex_create(void)
{
	struct cnp_mutex *m = cnp_calloc(1, sizeof(*m));
	if (m && pthread_mutex_init(&m->m, NULL) != 0) {
		cnp_free(m);
		return NULL;
	}
	return m;
}

void cnp_mutex_destroy(struct cnp_mutex *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->m);
	cnp_free(m);
}

void cnp_mutex_lock(struct cnp_mutex *m)
{
	pthread_mutex_lock(&m->m);
}

void cnp_mutex_unlock(struct cnp_mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

struct cnp_event *cnp_event_create(void)
{
	struct cnp_event *e = cnp_calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	int bad = pthread_mutex_init(&e->m, NULL) != 0;
	if (!bad && pthread_cond_init(&e->c, &attr) != 0) {
		pthread_mutex_destroy(&e->m);
		bad = 1;
	}
	pthread_condattr_destroy(&attr);
	if (bad) {
		cnp_free(e);
		return NULL;
	}
	return e;
}

void cnp_event_destroy(struct cnp_event *e)
{
	if (!e)
		return;
	pthread_cond_destroy(&e->c);
	pthread_mutex_destroy(&e->m);
	cnp_free(e);
}

void cnp_event_signal(struct cnp_event *e)
{
	pthread_mutex_lock(&e->m);
	e->signalled = 1;
	pthread_cond_signal(&e->c);
	pthread_mutex_unlock(&e->m);
}

int cnp_event_wait(struct cnp_event *e, uint64_t timeout_us)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	uint64_t ns = (uint64_t)deadline.tv_nsec + (timeout_us % 1000000u) * 1000u;
	deadline.tv_sec += (time_t)(timeout_us / 1000000u + ns / 1000000000u);
	deadline.tv_nsec = (long)(ns % 1000000000u);
	pthread_mutex_lock(&e->m);
	while (!e->signalled) {
		if (pthread_cond_timedwait(&e->c, &e->m, &deadline) == ETIMEDOUT)
			break;
	}
	int got = e->signalled;
	e->signalled = 0;
	pthread_mutex_unlock(&e->m);
	return got;
}
