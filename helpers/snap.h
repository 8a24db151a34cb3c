/* snap.h — what vps-snap.c shares with snap-extents.c (usage, union). */
#ifndef VPS_SNAP_H
#define VPS_SNAP_H

#include "common.h"

#include <sys/stat.h>

/* Opens a regular file read-only (no link followed); exit 2/3 otherwise. */
int open_regular(const char *path, struct stat *st);
/* Flushes the one line of JSON on stdout, or dies. */
void finish_output(void);

int snap_usage(int n, char **paths);
int snap_union(int n, char **paths);

#endif
