/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * The loops' common parts.  The stop signals are blocked except inside
 * ppoll(), which unblocks them atomically: one that arrives just before
 * a sleep ends it at once instead of being noticed a whole interval
 * later.  No SA_RESTART: a signal interrupts the sleep.
 */

#include <string.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include "pl_log.h"
#include "pl_loop.h"


static void pl_loop_signal(int signo);


volatile sig_atomic_t  pl_loop_stop;


int
pl_loop_signals(void)
{
    struct sigaction  sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = pl_loop_signal;

    if (sigaction(SIGTERM, &sa, NULL) == -1
        || sigaction(SIGINT, &sa, NULL) == -1)
    {
        return PL_ERR;
    }

    sa.sa_handler = SIG_IGN;

    if (sigaction(SIGPIPE, &sa, NULL) == -1) {
        return PL_ERR;
    }

    return PL_OK;
}


/*
 * Sleeps ms, or less on a stop signal; with wait, the sleep is wait's
 * (e.g. on a database socket), called with the mask ppoll() must use.
 */

int
pl_loop_sleep(unsigned ms, pl_loop_wait_pt wait, void *ctx)
{
    int              woken;
    sigset_t         block, old;
    struct timespec  ts;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);

    woken = 0;

    if (pl_loop_stop) {
        /* void */

    } else if (wait != NULL) {
        woken = wait(ctx, ms, &old);

    } else {
        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (long) (ms % 1000) * 1000000;
        (void) ppoll(NULL, 0, &ts, &old);
    }

    sigprocmask(SIG_SETMASK, &old, NULL);

    return woken;
}


/* the next back-off after one of backoff ms (0: the first failure) */

unsigned
pl_loop_backoff(unsigned backoff)
{
    if (backoff == 0) {
        return PL_LOOP_BACKOFF_MIN;
    }

    return backoff >= PL_LOOP_BACKOFF_MAX / 2 ? PL_LOOP_BACKOFF_MAX
                                              : backoff * 2;
}


/* monotonic milliseconds */

long long
pl_loop_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


static void
pl_loop_signal(int signo)
{
    (void) signo;

    pl_loop_stop = 1;
}
