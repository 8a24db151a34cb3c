/* spawn-log.c — the monitor's log: its stderr is <run-dir>/monitor.log, one JSON object per
 * line (see vps-spawn.c). Every part of vps-spawn writes its warnings here; nothing in this
 * file knows the monitor's state. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>

#include "common.h"
#include "spawn.h"

void log_event(const char *fmt, ...)
{
	char line[VPS_ERRMSG_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

void log_warn(const char *fmt, ...)
{
	char msg[VPS_ERRMSG_MAX], esc[VPS_ERRMSG_MAX * 2] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(esc, sizeof(esc), msg);
	log_event("{\"event\":\"warning\",\"message\":\"%s\"}", esc);
}

void log_error(int code, const char *msg)
{
	char esc[VPS_ERRMSG_MAX * 2] = "";

	json_escape(esc, sizeof(esc), msg);
	log_event("{\"event\":\"error\",\"code\":%d,\"message\":\"%s\"}", code, esc);
}
