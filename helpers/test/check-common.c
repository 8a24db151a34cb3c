/*
 * `make check`: unit tests of the helpers' pure parts (common.c), printed as TAP.
 * Validation the helpers apply again to what TypeScript validated first (ids, hostnames,
 * paths), JSON escaping of what they print, pid parsing, errno -> exit code, and the
 * symlink-refusing walk mounts are made through (SECURITY.md R2), on a tree made here.
 */
#define _GNU_SOURCE
#include "../common.h"
#include "../exit-codes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int n, failed;

static void ok(bool cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, what);
	if (!cond)
		failed++;
}

static void validators(void)
{
	ok(valid_id("101") && valid_id("web-1") && valid_id("a"), "valid_id: numeric and dashed ids");
	ok(!valid_id("") && !valid_id("-a") && !valid_id("a-") && !valid_id("A1") && !valid_id("a_b") && !valid_id("a/b"), "valid_id: refuses empty, edge dashes, capitals, _ and /");
	char long_id[80];
	memset(long_id, 'a', 63);
	long_id[63] = '\0';
	ok(valid_id(long_id), "valid_id: 63 characters");
	long_id[63] = 'a';
	long_id[64] = '\0';
	ok(!valid_id(long_id), "valid_id: not 64");
	ok(valid_hostname("ct101.example.net") && valid_hostname("A-1"), "valid_hostname: dotted labels");
	ok(!valid_hostname("") && !valid_hostname("a..b") && !valid_hostname("-a") && !valid_hostname("a b") && !valid_hostname("a_b"), "valid_hostname: refuses empty labels, edge dashes, spaces, _");
	ok(valid_abs_path("/var/lib/vpsctl/pool/images/101.img"), "valid_abs_path: an image path");
	ok(!valid_abs_path("relative") && !valid_abs_path("/a/../b") && !valid_abs_path("/a/\nb") && !valid_abs_path(""), "valid_abs_path: refuses relative, .., control characters, empty");
	ok(valid_component("cpu,cpuacct") && valid_component("name=systemd"), "valid_component: cgroup mount names");
	ok(!valid_component(".") && !valid_component("..") && !valid_component("a/b") && !valid_component(""), "valid_component: refuses . .. / and empty");
}

static void parsing(void)
{
	pid_t p = 0;
	ok(parse_pid("1", &p) && p == 1 && parse_pid("2147483647", &p) && p == 2147483647, "parse_pid: 1 and INT_MAX");
	ok(!parse_pid("0", &p) && !parse_pid("-1", &p) && !parse_pid("12x", &p) && !parse_pid("", &p) && !parse_pid("2147483648", &p), "parse_pid: refuses 0, negatives, junk, empty, overflow");
	ok(exit_code_for_errno(ENOENT) == VPS_ENOTFOUND && exit_code_for_errno(ENOSPC) == VPS_ENORES && exit_code_for_errno(ENOSYS) == VPS_EHOST && exit_code_for_errno(EPERM) == VPS_EFAIL, "exit_code_for_errno: not found, no resources, host, else failed");
}

static void escaping(void)
{
	char buf[64] = "";
	json_escape(buf, sizeof(buf), "a\"b\\c\n\x01");
	ok(strcmp(buf, "a\\\"b\\\\c\\u000a\\u0001") == 0, "json_escape: quotes, backslashes, control characters");
	char small[12] = "";
	json_escape(small, sizeof(small), "0123456789abcdef");
	ok(strlen(small) < sizeof(small), "json_escape: never past its buffer");
}

static void walk(void)
{
	char dir[] = "/tmp/vps-check-XXXXXX", bad[256];
	if (!mkdtemp(dir)) {
		ok(false, "mkdtemp");
		return;
	}
	int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int file = openat(root, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ok(root >= 0 && file >= 0 && mkdirat(root, "proc", 0755) == 0 && mkdirat(root, "proc/sys", 0755) == 0 &&
		   symlinkat("/etc", root, "evil") == 0 && mkdirat(root, "dev", 0755) == 0 && symlinkat("/etc", root, "dev/link") == 0,
	   "a tree with symlinks out of it");
	if (file >= 0)
		close(file);

	int fd = open_nofollow_in_root(root, "proc/sys", bad, sizeof(bad));
	ok(fd >= 0, "open_nofollow_in_root: a plain directory path");
	if (fd >= 0)
		close(fd);
	errno = 0;
	ok(open_nofollow_in_root(root, "evil", bad, sizeof(bad)) < 0 && errno == ELOOP && strcmp(bad, "evil") == 0, "open_nofollow_in_root: a symlink is refused (ELOOP), named");
	ok(open_nofollow_in_root(root, "dev/link/passwd", bad, sizeof(bad)) < 0 && errno == ELOOP && strcmp(bad, "dev/link") == 0, "open_nofollow_in_root: a symlink on the way is refused, the prefix named");
	ok(open_nofollow_in_root(root, "proc/../evil", bad, sizeof(bad)) < 0 && errno == EXDEV, "open_nofollow_in_root: .. is refused (EXDEV)");
	ok(open_nofollow_in_root(root, "file/x", bad, sizeof(bad)) < 0 && errno == ENOTDIR, "open_nofollow_in_root: a file before the last component (ENOTDIR)");
	close(root);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		ok(false, "clean up");
}

int main(void)
{
	validators();
	parsing();
	escaping();
	walk();
	printf("1..%d\n", n);
	return failed ? 1 : 0;
}
