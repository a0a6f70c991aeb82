/*-------------------------------------------------------------------------
 *
 * events.h
 *	  Transaction ends and the wake-ups they cause.  See events.c.
 *
 * Copyright (c) 2026, the mq authors
 *
 * IDENTIFICATION
 *	  src/events.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MQ_EVENTS_H
#define MQ_EVENTS_H

#include "effects.h"

extern void mq_events_init(void);
extern void mq_events_apply(MqEffects *fx);
extern void mq_events_prepared_ended(void);

#endif							/* MQ_EVENTS_H */
