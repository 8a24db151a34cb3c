/* snap-extents.c — vps-snap usage and union: what files hold, from their FIEMAP extents.
 * usage: each file's size, allocated, shared (with any other file) and exclusive bytes;
 * union: the bytes a set of files holds together, each physical block counted once. */
#include "snap.h"

#include <errno.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#define FIEMAP_BATCH 256
#define MIN(a, b)    ((a) < (b) ? (a) : (b))

/* Physical extents gathered by file_usage for `union`; bytes it cannot place are `unplaced`. */
struct extents {
	struct { __u64 at, len; } *v;
	size_t n, cap;
	unsigned long long unplaced;
};

static void extent_add(struct extents *ex, const struct fiemap_extent *e)
{
	if (e->fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_DATA_INLINE)) {
		ex->unplaced += e->fe_length;
		return;
	}
	if (ex->n == ex->cap) {
		size_t cap = ex->cap ? ex->cap * 2 : 4096;
		void *v = realloc(ex->v, cap * sizeof(*ex->v));
		if (!v)
			die_code(VPS_ENORES, "out of memory");
		ex->v = v;
		ex->cap = cap;
	}
	ex->v[ex->n].at = e->fe_physical;
	ex->v[ex->n].len = e->fe_length;
	ex->n++;
}

/* size, allocated and shared bytes of path into out[0..2]; its extents into ex (may be NULL). */
static void file_usage(const char *path, struct fiemap *fm, unsigned long long *out, struct extents *ex)
{
	struct stat st;
	__u64 start = 0;

	cleanup_fd int fd = open_regular(path, &st);
	out[0] = (unsigned long long)st.st_size;
	out[1] = out[2] = 0;
	for (;;) {
		struct fiemap_extent *last;

		memset(fm, 0, sizeof(*fm));
		fm->fm_start = start;
		fm->fm_length = FIEMAP_MAX_OFFSET - start;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = FIEMAP_BATCH;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			if (start == 0 && (errno == EOPNOTSUPP || errno == ENOTTY)) {
				out[1] = (unsigned long long)st.st_blocks * 512;
				if (ex) /* no FIEMAP, no sharing to find: its blocks are its own */
					ex->unplaced += out[1];
				return;
			}
			die_errno_mapped("FIEMAP %s", path);
		}
		if (fm->fm_mapped_extents == 0)
			return;
		for (__u32 i = 0; i < fm->fm_mapped_extents; i++) {
			out[1] += fm->fm_extents[i].fe_length;
			if (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED)
				out[2] += fm->fm_extents[i].fe_length;
			if (ex)
				extent_add(ex, &fm->fm_extents[i]);
		}
		last = &fm->fm_extents[fm->fm_mapped_extents - 1];
		if (last->fe_flags & FIEMAP_EXTENT_LAST)
			return;
		start = last->fe_logical + last->fe_length;
	}
}

int snap_usage(int n, char **paths)
{
	cleanup_free struct fiemap *fm =
		malloc(sizeof(*fm) + FIEMAP_BATCH * sizeof(struct fiemap_extent));
	cleanup_free unsigned long long *u = calloc((size_t)n * 3, sizeof(*u));

	if (!fm || !u)
		die_code(VPS_ENORES, "out of memory");
	for (int i = 0; i < n; i++)
		file_usage(paths[i], fm, &u[i * 3], NULL);
	fputs("[", stdout);
	for (int i = 0; i < n; i++) {
		char esc[6 * VPS_PATH_MAX] = "";
		unsigned long long *v = &u[i * 3];
		json_escape(esc, sizeof(esc), paths[i]);
		printf("%s{\"path\":\"%s\",\"size\":%llu,\"allocated\":%llu,\"shared\":%llu,"
		       "\"exclusive\":%llu}",
		       i ? "," : "", esc, v[0], v[1], v[2], v[1] - MIN(v[2], v[1]));
	}
	fputs("]\n", stdout);
	finish_output();
	return 0;
}

static int extent_cmp(const void *a, const void *b)
{
	const __u64 x = *(const __u64 *)a, y = *(const __u64 *)b;
	return x < y ? -1 : x > y;
}

/* union FILE...: the bytes the files hold together, each shared block counted once. */
int snap_union(int n, char **paths)
{
	cleanup_free struct fiemap *fm =
		malloc(sizeof(*fm) + FIEMAP_BATCH * sizeof(struct fiemap_extent));
	struct extents ex = { 0 };
	unsigned long long u[3], allocated = 0, total, end = 0;

	if (!fm)
		die_code(VPS_ENORES, "out of memory");
	for (int i = 0; i < n; i++) {
		file_usage(paths[i], fm, u, &ex);
		allocated += u[1];
	}
	qsort(ex.v, ex.n, sizeof(*ex.v), extent_cmp);
	total = ex.unplaced;
	for (size_t i = 0; i < ex.n; i++) { /* sorted by start: count what no earlier one covered */
		__u64 a = ex.v[i].at, b = ex.v[i].at + ex.v[i].len;
		if (b > end) {
			total += b - (a > end ? a : end);
			end = b;
		}
	}
	free(ex.v);
	printf("{\"files\":%d,\"allocated\":%llu,\"union\":%llu}\n", n, allocated, total);
	finish_output();
	return 0;
}
