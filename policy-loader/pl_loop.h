/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * What the loader's daemon and the journal process share about their
 * loops: the stop signals, a sleep they cut short, back-off, the clock.
 */

#ifndef PL_LOOP_H
#define PL_LOOP_H

#include <signal.h>


#define PL_LOOP_BACKOFF_MIN     500     /* ms */
#define PL_LOOP_BACKOFF_MAX     30000


/* returns non-zero when something it waits for ended the sleep early */
typedef int (*pl_loop_wait_pt)(void *ctx, unsigned ms, const sigset_t *mask);


/* set by SIGTERM and SIGINT only */
extern volatile sig_atomic_t  pl_loop_stop;

int pl_loop_signals(void);
int pl_loop_sleep(unsigned ms, pl_loop_wait_pt wait, void *ctx);
unsigned pl_loop_backoff(unsigned backoff);
long long pl_loop_now(void);

#endif /* PL_LOOP_H */
