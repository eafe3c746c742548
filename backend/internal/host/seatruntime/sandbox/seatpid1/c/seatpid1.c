/*
 * clarateach-seat-pid1: a sandbox seat's init written in C, for the
 * common seat: started from scratch (not warm), on the host's root or on
 * an image, with no root learner, and an agent running as root. It does
 * what the Go init (package seatinit, clarateach-seat-init) does for such
 * a seat, without a Go runtime's
 * start: the runtime's own start (page faults, threads) was about two
 * thirds of the Go init's CPU, paid once per seat (backend/bench/agent
 * README, "a pid 1 that is not a Go program").
 *
 * It reads the same config (seatinit's wire.go) on fd 3, builds the seat
 * (the same mounts, /dev, /etc and pivot_root as init_linux.go), makes
 * the daemon's socket and the root socket, starts the workspace daemon
 * and restarts it whenever it dies (the same back-off), reaps every
 * orphan, ends the seat when the agent's heartbeat stops, and reports
 * "ok" (or "error: ...") on fd 4. A root script's connection is handed
 * to a helper: the daemon binary (already in the seat at
 * /run/clarateach/workspace) started as the seat's root with
 * _CLARATEACH_SANDBOX_ROOTCONN=1 and the connection on fd 3, which runs
 * the script as the Go init would (seatinit's root_linux.go).
 *
 * A seat on an image (image_linux.go in both packages) has its root
 * from the agent: the overlay's mount fd, moved onto the seat's root;
 * its /etc is the image's, with the seat's files written into it after
 * pivot_root (passwd and group merged), never through a symlink.
 *
 * A config it cannot serve (warm, root learner, rootless) is an error:
 * the agent sends such seats to the Go init.
 *
 * Built static by package seatpid1 (Build), the Makefile and the bench:
 *   gcc -static -O2 -o clarateach-seat-pid1 seatpid1.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Paths and ids inside a seat: seatinit.go. */
#define HOME "/home/learner"
#define RUN_DIR "/run/clarateach"
#define DAEMON_PATH RUN_DIR "/workspace"
#define HOST_ETC RUN_DIR "/host-etc"
#define ROOT_SOCK_NAME "root.sock"
#define LISTEN_FD 3
#define PROCS_MARKER "_CLARATEACH_SANDBOX_PROCS"
#define ROOTCONN_MARKER "_CLARATEACH_SANDBOX_ROOTCONN"

/* mount_setattr(2) and move_mount(2), by number: glibc 2.36 has no
 * wrappers for them. */
#define ATTR_RDONLY 0x1
#define ATTR_NOSUID 0x2
#define ATTR_NODEV 0x4
#define AT_RECURSIVE_ 0x8000
#define MOVE_MOUNT_F_EMPTY_PATH_ 0x4
struct mount_attr_ {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Wire tags: seatinit's wire.go (never reused there). */
enum {
	tagRoot = 1, tagRootFS, tagHome, tagSock, tagDaemon, tagArg, tagEnv,
	tagHostname, tagTmpSizeMB, tagMask, tagEtc, tagNet, tagRootless,
	tagHomeFD, tagRootFD, tagImageRoot, tagUIDLockFD, tagLauncher, tagWarm,
	tagLearnerRoot, tagHeartbeat, tagLauncherELF,
};

#define MAX_CONFIG (16u << 20)
#define MAX_LIST 4096

struct str {
	char *p; /* NUL-terminated as well */
	size_t n;
};

struct config {
	struct str root, rootfs, home, sock, daemon, hostname, launcher, launcher_elf;
	char *args[MAX_LIST + 1], *env[MAX_LIST + 3];
	int nargs, nenv;
	char *masks[MAX_LIST];
	int nmasks;
	struct str etc_path[MAX_LIST], etc_data[MAX_LIST];
	int netc;
	long tmp_mb, home_fd, root_fd, uid_lock_fd;
	int rootless, image_root, warm, learner_root, net;
	struct str net_addr, net_gw; /* "10.222.0.2/30", "10.222.0.1" */
	int heartbeat;
	long hb_fd, hb_timeout_ms, hb_check_ms;
};

static struct config cfg;
static int status_fd = 4;

static void fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	dprintf(2, "seat init: %s\n", msg);
	if (status_fd >= 0)
		dprintf(status_fd, "error: %s\n", msg);
	exit(1);
}

/* ---- the config ---- */

struct reader {
	const unsigned char *b, *end;
};

static uint64_t uvarint(struct reader *r)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->b >= r->end)
			fail("seat config: truncated");
		unsigned char c = *r->b++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (c < 0x80)
			return x;
	}
	fail("seat config: truncated");
	return 0;
}

static long varint(struct reader *r)
{
	uint64_t u = uvarint(r);
	int64_t x = (int64_t)(u >> 1);
	if (u & 1)
		x = ~x;
	return (long)x;
}

static struct str raw(struct reader *r)
{
	uint64_t n = uvarint(r);
	if (n > (uint64_t)(r->end - r->b))
		fail("seat config: truncated");
	struct str s = {malloc(n + 1), n};
	if (!s.p)
		fail("seat config: out of memory");
	memcpy(s.p, r->b, n);
	s.p[n] = 0;
	r->b += n;
	return s;
}

static void push(char **list, int *n, int max, char *s)
{
	if (*n >= max)
		fail("seat config: too many list entries");
	list[(*n)++] = s;
}

static void decode_field(int tag, struct reader *r)
{
	struct str *s = NULL;
	long *num = NULL;
	int *flag = NULL;
	switch (tag) {
	case tagRoot: s = &cfg.root; break;
	case tagRootFS: s = &cfg.rootfs; break;
	case tagHome: s = &cfg.home; break;
	case tagSock: s = &cfg.sock; break;
	case tagDaemon: s = &cfg.daemon; break;
	case tagHostname: s = &cfg.hostname; break;
	case tagLauncher: s = &cfg.launcher; break;
	case tagLauncherELF: s = &cfg.launcher_elf; break;
	case tagArg: push(cfg.args, &cfg.nargs, MAX_LIST, raw(r).p); return;
	case tagEnv: push(cfg.env, &cfg.nenv, MAX_LIST, raw(r).p); return;
	case tagMask: push(cfg.masks, &cfg.nmasks, MAX_LIST, raw(r).p); return;
	case tagTmpSizeMB: num = &cfg.tmp_mb; break;
	case tagHomeFD: num = &cfg.home_fd; break;
	case tagRootFD: num = &cfg.root_fd; break;
	case tagUIDLockFD: num = &cfg.uid_lock_fd; break;
	case tagRootless: flag = &cfg.rootless; break;
	case tagImageRoot: flag = &cfg.image_root; break;
	case tagWarm: flag = &cfg.warm; break;
	case tagLearnerRoot: flag = &cfg.learner_root; break;
	case tagEtc:
		if (cfg.netc >= MAX_LIST)
			fail("seat config: too many /etc files");
		cfg.etc_path[cfg.netc] = raw(r);
		cfg.etc_data[cfg.netc++] = raw(r);
		return;
	case tagNet:
		cfg.net_addr = raw(r);
		cfg.net_gw = raw(r);
		cfg.net = 1;
		return;
	case tagHeartbeat:
		cfg.heartbeat = 1;
		cfg.hb_fd = varint(r);
		cfg.hb_timeout_ms = varint(r);
		cfg.hb_check_ms = varint(r);
		return;
	default:
		fail("seat config: unknown field %d (agent and seat init from different builds?)", tag);
	}
	if (s)
		*s = raw(r);
	else if (num)
		*num = varint(r);
	else
		*flag = 1;
}

static void read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			fail("seat config: %s", strerror(errno));
		if (k == 0)
			fail("seat config: unexpected EOF");
		p += k;
		n -= (size_t)k;
	}
}

static void read_config(int fd)
{
	unsigned char n[4];
	read_full(fd, n, 4);
	uint32_t size = n[0] | n[1] << 8 | n[2] << 16 | (uint32_t)n[3] << 24;
	if (size > MAX_CONFIG)
		fail("seat config: %u bytes, more than %u", size, MAX_CONFIG);
	unsigned char *b = malloc(size ? size : 1);
	if (!b)
		fail("seat config: out of memory");
	read_full(fd, b, size);
	struct reader r = {b, b + size};
	while (r.b < r.end) {
		int tag = *r.b++;
		decode_field(tag, &r);
	}
	free(b);
	if (cfg.warm || cfg.learner_root || cfg.rootless)
		fail("this seat needs the Go seat init (warm, root learner or rootless)");
	if (!cfg.root.n || !cfg.rootfs.n || !cfg.sock.n || !cfg.daemon.n || !cfg.nargs)
		fail("seat config: root, rootfs, sock, daemon or args missing");
}

/* ---- the seat's mounts (init_linux.go) ---- */

static char *at(const char *p)
{
	char *s;
	if (asprintf(&s, "%s%s", cfg.root.p, p) < 0)
		fail("out of memory");
	return s;
}

static void do_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)
{
	if (mount(src, target, fstype, flags, data) < 0)
		fail("mount %s on %s (%s): %s", src, target, fstype ? fstype : "", strerror(errno));
}

static void set_attr(const char *path, uint64_t attrs, int recursive)
{
	struct mount_attr_ a = {.attr_set = attrs};
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE_ : 0, &a, sizeof a) < 0)
		fail("mount_setattr %s: %s", path, strerror(errno));
}

static void touch(const char *p)
{
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		fail("open %s: %s", p, strerror(errno));
	close(fd);
}

static void make_dir(const char *p, mode_t mode)
{
	if (mkdir(p, mode) < 0)
		fail("mkdir %s: %s", p, strerror(errno));
}

static void make_link(const char *target, const char *p)
{
	if (symlink(target, p) < 0)
		fail("symlink %s: %s", p, strerror(errno));
}

/* write_close writes all of data to fd (the file p) and closes it. */
static void write_close(int fd, const char *p, const char *data, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, data, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			fail("write %s: %s", p, strerror(errno));
		data += k;
		n -= (size_t)k;
	}
	if (close(fd) < 0)
		fail("close %s: %s", p, strerror(errno));
}

static void write_file(const char *p, const char *data, size_t n, mode_t mode)
{
	int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		fail("open %s: %s", p, strerror(errno));
	write_close(fd, p, data, n);
}

#define NOSUID_NODEV (MS_NOSUID | MS_NODEV)

static void link_up(const char *name)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("socket: %s", strerror(errno));
	struct ifreq ifr = {0};
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("link %s: %s", name, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("link %s up: %s", name, strerror(errno));
	close(s);
}

/* disable_ipv6 turns IPv6 off on ifname (loopback keeps ::1): nothing
 * would route it, and a link-local address must not reach the host. A
 * kernel without IPv6 has no such file. */
static void disable_ipv6(const char *ifname)
{
	char p[128];
	snprintf(p, sizeof p, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return;
	if (fd < 0 || write(fd, "1", 1) != 1)
		fail("disable ipv6: %s", strerror(errno));
	close(fd);
}

static struct sockaddr_in in4(const char *s, const char *what)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, s, &a.sin_addr) != 1)
		fail("seat network: bad %s %s", what, s);
	return a;
}

/* setup_net: loopback up; with a seat network, eth0 (moved in by the
 * agent) gets its address, comes up and routes by default through the
 * host's end (setupNet in init_linux.go, by ioctl instead of netlink). */
static void setup_net(void)
{
	link_up("lo");
	if (!cfg.net)
		return;
	char addr[64];
	snprintf(addr, sizeof addr, "%s", cfg.net_addr.p);
	char *slash = strchr(addr, '/');
	if (!slash)
		fail("seat network: bad address %s", cfg.net_addr.p);
	*slash = 0;
	int bits = atoi(slash + 1);
	if (bits < 0 || bits > 32)
		fail("seat network: bad address %s", cfg.net_addr.p);
	struct sockaddr_in local = in4(addr, "address"), gw = in4(cfg.net_gw.p, "gateway");
	struct sockaddr_in mask = {.sin_family = AF_INET};
	mask.sin_addr.s_addr = htonl(bits ? ~0u << (32 - bits) : 0);
	disable_ipv6("default");
	disable_ipv6("eth0");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("socket: %s", strerror(errno));
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "eth0");
	memcpy(&ifr.ifr_addr, &local, sizeof local);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		fail("address of eth0: %s", strerror(errno));
	memcpy(&ifr.ifr_netmask, &mask, sizeof mask);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		fail("netmask of eth0: %s", strerror(errno));
	link_up("eth0");
	struct rtentry rt = {0};
	struct sockaddr_in any = {.sin_family = AF_INET};
	memcpy(&rt.rt_dst, &any, sizeof any);
	memcpy(&rt.rt_genmask, &any, sizeof any);
	memcpy(&rt.rt_gateway, &gw, sizeof gw);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = "eth0";
	if (ioctl(s, SIOCADDRT, &rt) < 0)
		fail("default route: %s", strerror(errno));
	close(s);
}

static void mount_image_root(void);

static void mount_root(void)
{
	if (cfg.root_fd > 0) {
		mount_image_root();
		return;
	}
	do_mount(cfg.rootfs.p, cfg.root.p, NULL, MS_BIND | MS_REC, NULL);
	set_attr(cfg.root.p, ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV, 1);
}

static void setup_dev(const char *dev)
{
	static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	static const char *links[][2] = {
		{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
		{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
	};
	char p[4096], src[64];
	do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k");
	for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
		snprintf(p, sizeof p, "%s/%s", dev, nodes[i]);
		snprintf(src, sizeof src, "/dev/%s", nodes[i]);
		touch(p);
		do_mount(src, p, NULL, MS_BIND, NULL);
	}
	snprintf(p, sizeof p, "%s/pts", dev);
	make_dir(p, 0755);
	do_mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
	snprintf(p, sizeof p, "%s/shm", dev);
	make_dir(p, 0755);
	do_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m");
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		snprintf(p, sizeof p, "%s/%s", dev, links[i][0]);
		make_link(links[i][1], p);
	}
}

static void mount_system(void)
{
	struct stat st;
	char opts[64];
	for (int i = 0; i < cfg.nmasks; i++) {
		char *m = at(cfg.masks[i]);
		if (stat(m, &st) == 0 && S_ISDIR(st.st_mode))
			do_mount("tmpfs", m, "tmpfs", NOSUID_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=755");
		free(m);
	}
	do_mount("proc", at("/proc"), "proc", NOSUID_NODEV | MS_NOEXEC, NULL);
	if (mount("sysfs", at("/sys"), "sysfs", NOSUID_NODEV | MS_NOEXEC | MS_RDONLY, NULL) < 0)
		do_mount("tmpfs", at("/sys"), "tmpfs", NOSUID_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=755");
	setup_dev(at("/dev"));
	snprintf(opts, sizeof opts, "mode=1777,size=%ldm", cfg.tmp_mb);
	do_mount("tmpfs", at("/tmp"), "tmpfs", NOSUID_NODEV, opts);
}

static void mount_run(void)
{
	do_mount("tmpfs", at("/run"), "tmpfs", NOSUID_NODEV, "mode=755,size=1m");
	make_dir(at(RUN_DIR), 0755);
	touch(at(DAEMON_PATH));
	do_mount(cfg.daemon.p, at(DAEMON_PATH), NULL, MS_BIND, NULL);
	set_attr(at(DAEMON_PATH), ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV, 0);
	if (cfg.launcher.n) {
		if (!cfg.launcher_elf.n)
			fail("seat launcher: none for this machine");
		write_file(at(cfg.launcher.p), cfg.launcher_elf.p, cfg.launcher_elf.n, 0555);
	}
}

static void mount_home(void)
{
	do_mount("tmpfs", at("/home"), "tmpfs", NOSUID_NODEV, "mode=755,size=16k");
	make_dir(at(HOME), 0755);
	if (cfg.home_fd > 0) {
		if (syscall(SYS_move_mount, (int)cfg.home_fd, "", AT_FDCWD, at(HOME), MOVE_MOUNT_F_EMPTY_PATH_) < 0)
			fail("move home mount to %s: %s", at(HOME), strerror(errno));
		close((int)cfg.home_fd);
	} else {
		do_mount(cfg.home.p, at(HOME), NULL, MS_BIND, NULL);
	}
	set_attr(at(HOME), ATTR_NOSUID | ATTR_NODEV, 0);
}

/* ---- a seat on an image (image_linux.go in seatinit) ---- */

/* The directories the seat mounts on; an image may lack them (or have
 * something else there). */
static const char *const image_mount_points[] = {"/proc", "/sys", "/dev", "/tmp", "/run", "/home", "/etc"};

/* mount_image_root moves the seat's root, the overlay the agent mounted
 * detached (its fd inherited), onto cfg.root in the seat's own mount
 * namespace, then makes the mount points in it (in the seat's own upper
 * layer): whatever is there and is not a directory goes (moveRoot and
 * prepareImageRoot). */
static void mount_image_root(void)
{
	if (syscall(SYS_move_mount, (int)cfg.root_fd, "", AT_FDCWD, cfg.root.p, MOVE_MOUNT_F_EMPTY_PATH_) < 0)
		fail("move image root to %s: %s", cfg.root.p, strerror(errno));
	close((int)cfg.root_fd);
	for (size_t i = 0; i < sizeof image_mount_points / sizeof *image_mount_points; i++) {
		char *p = at(image_mount_points[i]);
		struct stat st;
		if (lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				free(p);
				continue;
			}
			if (unlink(p) < 0)
				fail("remove %s: %s", p, strerror(errno));
		} else if (errno != ENOENT) {
			fail("lstat %s: %s", p, strerror(errno));
		}
		make_dir(p, 0755);
		free(p);
	}
}

/* account finds a passwd or group line's name (field 1) and id (field
 * 3); 0 when it has fewer than three fields. */
static int account(const char *l, size_t n, struct str *name, struct str *id)
{
	const char *c1 = memchr(l, ':', n), *c2, *c3, *end = l + n;
	if (!c1 || !(c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1))))
		return 0;
	c3 = memchr(c2 + 1, ':', (size_t)(end - c2 - 1));
	*name = (struct str){(char *)l, (size_t)(c1 - l)};
	*id = (struct str){(char *)c2 + 1, (size_t)((c3 ? c3 : end) - c2 - 1)};
	return 1;
}

static int in_set(const struct str *set, int n, struct str s)
{
	for (int i = 0; i < n; i++)
		if (set[i].n == s.n && !memcmp(set[i].p, s.p, s.n))
			return 1;
	return 0;
}

static int ascii_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* merge_accounts merges passwd (or group) lines as mergeAccounts does:
 * the image's, less those whose name or id one of ours takes, then ours.
 * The image's root stays (its shell is one the image has). */
static struct str merge_accounts(struct str image, struct str ours)
{
	if (!image.p)
		image.p = "";
	struct str out = {malloc(image.n + ours.n + 2), 0};
	if (!out.p)
		fail("out of memory");
	while (ours.n && ascii_space(ours.p[0]))
		ours.p++, ours.n--;
	while (ours.n && ascii_space(ours.p[ours.n - 1]))
		ours.n--;
	int image_root = (image.n >= 5 && !memcmp(image.p, "root:", 5)) || memmem(image.p, image.n, "\nroot:", 6);
	size_t lines = 1;
	for (size_t i = 0; i < ours.n; i++)
		lines += ours.p[i] == '\n';
	struct str *names = calloc(lines, sizeof *names), *ids = calloc(lines, sizeof *ids), *add = calloc(lines, sizeof *add);
	if (!names || !ids || !add)
		fail("out of memory");
	int nadd = 0;
	struct str name, id;
	for (const char *l = ours.p, *end = ours.p + ours.n; l <= end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		size_t n = (size_t)((nl ? nl : end) - l);
		if (account(l, n, &name, &id) && !(image_root && name.n == 4 && !memcmp(name.p, "root", 4))) {
			names[nadd] = name, ids[nadd] = id;
			add[nadd++] = (struct str){(char *)l, n};
		}
		l += n + 1;
	}
	int first = 1;
	for (const char *l = image.p, *end = image.p + image.n; l <= end;) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		size_t n = (size_t)((nl ? nl : end) - l);
		if (account(l, n, &name, &id) && !in_set(names, nadd, name) && !in_set(ids, nadd, id)) {
			if (!first)
				out.p[out.n++] = '\n';
			memcpy(out.p + out.n, l, n);
			out.n += n, first = 0;
		}
		l += n + 1;
	}
	for (int i = 0; i < nadd; i++) {
		if (!first)
			out.p[out.n++] = '\n';
		memcpy(out.p + out.n, add[i].p, add[i].n);
		out.n += add[i].n, first = 0;
	}
	out.p[out.n++] = '\n';
	free(names), free(ids), free(add);
	return out;
}

/* read_image_file is the file at p in the seat (a symlink resolves
 * inside it): empty when it cannot be read, as far as it could be read
 * after an error (os.ReadFile's data, which writeImageEtc takes whatever
 * the error). Non-blocking, so that a FIFO there cannot hold the seat's
 * start; more than MAX_CONFIG is an error (/dev/zero). */
static struct str read_image_file(const char *p)
{
	struct str s = {NULL, 0};
	size_t cap = 0;
	int fd = open(p, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return s;
	for (;;) {
		if (s.n == cap) {
			if (cap >= MAX_CONFIG)
				fail("the image's %s: more than %u bytes", p, MAX_CONFIG);
			cap = cap ? 2 * cap : 4096;
			if (!(s.p = realloc(s.p, cap)))
				fail("out of memory");
		}
		ssize_t k = read(fd, s.p + s.n, cap - s.n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		s.n += (size_t)k;
	}
	close(fd);
	return s;
}

/* replace_file puts a new file at p, never writing through a symlink:
 * whatever is there goes (a file, a symlink, an empty directory), and the
 * new one is created exclusively, without following one (replaceFile). */
static void replace_file(const char *p, const char *data, size_t n)
{
	if (unlink(p) < 0) {
		int e = errno;
		if (rmdir(p) < 0) {
			if (errno != ENOTDIR)
				e = errno;
			if (e != ENOENT)
				fail("remove %s: %s", p, strerror(e));
		}
	}
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		fail("open %s: %s", p, strerror(errno));
	write_close(fd, p, data, n);
}

/* write_image_etc writes the seat's generated /etc files into the
 * image's /etc, inside the seat (after pivot_root: a symlink in the image
 * resolves inside the seat). passwd and group keep the image's accounts
 * and gain the seat's (learner, clarateach), which replace any of the
 * same name or id (writeImageEtc). */
static void write_image_etc(void)
{
	for (int i = 0; i < cfg.netc; i++) {
		const char *p = cfg.etc_path[i].p, *base = strrchr(p, '/');
		struct str data = cfg.etc_data[i], old = {NULL, 0};
		base = base ? base + 1 : p;
		int accounts = !strcmp(base, "passwd") || !strcmp(base, "group");
		if (accounts) {
			old = read_image_file(p);
			data = merge_accounts(old, data);
		}
		replace_file(p, data.p, data.n);
		if (accounts) {
			free(old.p);
			free(data.p);
		}
	}
}

static int generated(const char *name)
{
	for (int i = 0; i < cfg.netc; i++)
		if (strncmp(cfg.etc_path[i].p, "/etc/", 5) == 0 && strcmp(cfg.etc_path[i].p + 5, name) == 0)
			return 1;
	return 0;
}

/* setup_etc: the seat's own /etc, a tmpfs of symlinks into a read-only
 * bind of the system's (setupEtc in init_linux.go). */
static void setup_etc(void)
{
	char *etc = at("/etc"), *host_etc = at(HOST_ETC);
	char p[4096], target[4096];
	make_dir(host_etc, 0755);
	do_mount(etc, host_etc, NULL, MS_BIND | MS_REC, NULL);
	set_attr(host_etc, ATTR_RDONLY | ATTR_NOSUID | ATTR_NODEV, 1);
	DIR *d = opendir(host_etc);
	if (!d)
		fail("open %s: %s", host_etc, strerror(errno));
	/* Read whole before the tmpfs hides what the bind shows. */
	struct dirent *e;
	char **names = NULL;
	unsigned char *types = NULL;
	size_t n = 0, cap = 0;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			names = realloc(names, cap * sizeof *names);
			types = realloc(types, cap);
			if (!names || !types)
				fail("out of memory");
		}
		names[n] = strdup(e->d_name);
		types[n++] = e->d_type;
	}
	closedir(d);
	do_mount("tmpfs", etc, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=2m");
	for (size_t i = 0; i < n; i++) {
		if (generated(names[i]))
			continue;
		snprintf(p, sizeof p, "%s/%s", host_etc, names[i]);
		struct stat st;
		int link = types[i] == DT_LNK || (types[i] == DT_UNKNOWN && lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
		if (link) {
			ssize_t k = readlink(p, target, sizeof target - 1);
			if (k < 0)
				fail("readlink %s: %s", p, strerror(errno));
			target[k] = 0;
		} else {
			snprintf(target, sizeof target, "%s/%s", HOST_ETC, names[i]);
		}
		snprintf(p, sizeof p, "%s/%s", etc, names[i]);
		make_link(target, p);
	}
	for (int i = 0; i < cfg.netc; i++)
		write_file(at(cfg.etc_path[i].p), cfg.etc_data[i].p, cfg.etc_data[i].n, 0644);
}

static void pivot_into(const char *root)
{
	if (chdir(root) < 0)
		fail("chdir new root: %s", strerror(errno));
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		fail("detach old root: %s", strerror(errno));
	if (chdir("/") < 0)
		fail("chdir /: %s", strerror(errno));
}

static void setup_seat(void)
{
	do_mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL);
	setup_net();
	if (sethostname(cfg.hostname.p, cfg.hostname.n) < 0)
		fail("sethostname: %s", strerror(errno));
	mount_root();
	mount_system();
	mount_run();
	mount_home();
	if (!cfg.image_root)
		setup_etc();
	pivot_into(cfg.root.p);
	if (cfg.image_root)
		write_image_etc();
	int fd = open("/proc/sys/user/max_user_namespaces", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		fail("limit nested user namespaces: %s", strerror(errno));
	close(fd);
}

/* ---- sockets, the daemon, root scripts, the heartbeat ---- */

/* listen_unix makes a listening socket at path (mode 0600), at fd 10 or
 * above, close-on-exec. */
static int listen_unix(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof a.sun_path)
		fail("daemon socket: path too long: %s", path);
	strcpy(a.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("daemon socket: %s", strerror(errno));
	int fd = fcntl(s, F_DUPFD_CLOEXEC, 10);
	if (fd < 0)
		fail("daemon socket: %s", strerror(errno));
	close(s);
	if (unlink(path) < 0 && errno != ENOENT)
		fail("daemon socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		fail("daemon socket: bind %s: %s", path, strerror(errno));
	if (chmod(path, 0600) < 0)
		fail("daemon socket: %s", strerror(errno));
	if (listen(fd, 4096) < 0)
		fail("daemon socket: listen: %s", strerror(errno));
	return fd;
}

static sigset_t child_mask; /* the signal mask children get back */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* spawn starts path with fd_to_3 (if >= 0) on fd 3 and nothing but
 * 0-3 open; the error of exec comes back through a close-on-exec pipe
 * (read after the vfork'd child has exec'd or exited). */
static pid_t spawn(const char *path, char *const argv[], char *const envp[], const char *dir, int fd_to_3, int *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		*err = errno;
		return -1;
	}
	/* The pipe's write end above every fd the child keeps. */
	int w = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
	close(p[1]);
	if (w < 0) {
		*err = errno;
		close(p[0]);
		return -1;
	}
	/* vfork: the child shares our memory until it execs, so it copies no
	 * page tables and takes no copy-on-write faults (which counted as the
	 * daemon's); it only changes what is its own (signal mask and
	 * dispositions, session, directory, fd table) and execs or exits. */
	pid_t pid = vfork();
	if (pid == 0) {
		int e;
		sigprocmask(SIG_SETMASK, &child_mask, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (setsid() < 0 || chdir(dir) < 0)
			goto out;
		if (fd_to_3 == 3) {
			if (fcntl(3, F_SETFD, 0) < 0)
				goto out;
		} else if (fd_to_3 >= 0 && dup2(fd_to_3, 3) < 0) {
			goto out;
		}
		syscall(SYS_close_range, fd_to_3 >= 0 ? 4 : 3, w - 1, 0);
		syscall(SYS_close_range, w + 1, ~0U, 0);
		execve(path, argv, envp);
	out:
		e = errno;
		(void)!write(w, &e, sizeof e);
		_exit(127);
	}
	close(w);
	if (pid < 0) {
		*err = errno;
		close(p[0]);
		return -1;
	}
	int e = 0;
	ssize_t k;
	while ((k = read(p[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(p[0]);
	if (k == sizeof e) {
		waitpid(pid, NULL, 0);
		*err = e;
		return -1;
	}
	*err = 0;
	return pid;
}

static int ln_fd, root_ln = -1;
static pid_t daemon_pid;
static int64_t daemon_since, restart_at = -1, backoff_ms;
static char *daemon_env[MAX_LIST + 3];

static int start_daemon(void)
{
	int err;
	pid_t pid = spawn(DAEMON_PATH, cfg.args, daemon_env, HOME, ln_fd, &err);
	if (pid < 0) {
		errno = err;
		return -1;
	}
	daemon_pid = pid;
	daemon_since = now_ms();
	return 0;
}

/* The daemon's environment: the config's, with GOMAXPROCS=1 and the
 * marker that makes seatinit.Main take both out again, unless the
 * config sets GOMAXPROCS (daemonProcEnv in init_linux.go). */
static void daemon_environ(void)
{
	int n = 0, procs = 0;
	for (int i = 0; i < cfg.nenv; i++) {
		if (!strncmp(cfg.env[i], "GOMAXPROCS=", 11))
			procs = 1;
		daemon_env[n++] = cfg.env[i];
	}
	if (!procs) {
		daemon_env[n++] = "GOMAXPROCS=1";
		daemon_env[n++] = PROCS_MARKER "=1";
	}
	daemon_env[n] = NULL;
}

/* daemon_died schedules the restart: after 50 ms, doubling to 2 s while
 * it keeps dying young, back to 50 ms once one lived 10 s. */
static void daemon_died(int ws)
{
	int64_t lived = now_ms() - daemon_since;
	if (lived >= 10000 || backoff_ms == 0)
		backoff_ms = 50;
	else if (backoff_ms < 2000)
		backoff_ms *= 2;
	if (WIFSIGNALED(ws))
		dprintf(2, "seat init: daemon exited (signal %s) after %.3fs; restarting it\n", strsignal(WTERMSIG(ws)), lived / 1000.0);
	else
		dprintf(2, "seat init: daemon exited (status %d) after %.3fs; restarting it\n", WEXITSTATUS(ws), lived / 1000.0);
	daemon_pid = 0;
	restart_at = now_ms() + backoff_ms;
}

static void reap(void)
{
	for (;;) {
		int ws;
		pid_t pid = waitpid(-1, &ws, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		if (pid == daemon_pid)
			daemon_died(ws);
	}
}

/* serve_root hands one root-script connection to a helper: the daemon
 * binary, started as the seat's root (seatinit's root_linux.go). */
static void serve_root(void)
{
	static char *argv[] = {"clarateach-seat-root", NULL};
	static char *envp[] = {ROOTCONN_MARKER "=1", "GOMAXPROCS=1", NULL};
	int c = accept4(root_ln, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			dprintf(2, "seat init: root socket: %s\n", strerror(errno));
		return;
	}
	int err;
	if (spawn(DAEMON_PATH, argv, envp, "/", c, &err) < 0) {
		dprintf(2, "seat init: root script helper: %s\n", strerror(err));
		dprintf(c, "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"truncated\":false,\"timed_out\":false,"
			   "\"duration_ms\":0,\"error\":\"start the root script helper: errno %d\"}\n", err);
	}
	close(c);
}

/* check_agent ends the seat (pid 1 exits, the kernel kills the rest) once
 * the heartbeat file has not been touched for the timeout. */
static void check_agent(void)
{
	struct stat st;
	struct timespec t;
	if (fstat((int)cfg.hb_fd, &st) < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &t);
	int64_t age = ((int64_t)t.tv_sec - st.st_mtim.tv_sec) * 1000 + (t.tv_nsec - st.st_mtim.tv_nsec) / 1000000;
	if (age > cfg.hb_timeout_ms) {
		dprintf(2, "seat init: the agent has been gone for %llds (more than %ldms); the seat ends (its home is kept)\n",
			(long long)(age / 1000), cfg.hb_timeout_ms);
		exit(0);
	}
}

static void supervise(int sfd)
{
	int64_t every = cfg.hb_check_ms > 10 ? cfg.hb_check_ms : 10, next_beat = now_ms() + every;
	for (;;) {
		int64_t now = now_ms(), wake = cfg.heartbeat ? next_beat : -1;
		if (restart_at >= 0 && (wake < 0 || restart_at < wake))
			wake = restart_at;
		int timeout = wake < 0 ? -1 : (int)(wake > now ? wake - now : 0);
		struct pollfd fds[2] = {{sfd, POLLIN, 0}, {root_ln, POLLIN, 0}};
		int n = poll(fds, root_ln >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		if (n > 0 && fds[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si)
				if (si.ssi_signo != SIGCHLD)
					exit(128 + (int)si.ssi_signo);
			reap();
		}
		if (n > 0 && root_ln >= 0 && fds[1].revents)
			serve_root();
		now = now_ms();
		if (restart_at >= 0 && now >= restart_at) {
			restart_at = -1;
			if (start_daemon() < 0) {
				dprintf(2, "seat init: restart daemon: %s\n", strerror(errno));
				restart_at = now + 2000;
			}
		}
		if (cfg.heartbeat && now >= next_beat) {
			check_agent();
			next_beat = now + every;
		}
	}
}

int main(void)
{
	/* An agent started with SIGHUP or SIGINT ignored (under nohup, or as
	 * a script's background job) starts this init so, and an ignored
	 * signal stays ignored across exec: the daemon, the root-script helper
	 * and every script would ignore it too, and this init, which ends on
	 * both, would never read them from its signalfd. Back to the default. */
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	/* pid 1 gets from others only the signals it handles; the Go init
	 * ends on these, and so does this one. */
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &child_mask);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fail("signalfd: %s", strerror(errno));
	fcntl(status_fd, F_SETFD, FD_CLOEXEC);
	read_config(3);
	close(3);
	if (cfg.uid_lock_fd > 0)
		fcntl((int)cfg.uid_lock_fd, F_SETFD, FD_CLOEXEC);
	if (cfg.heartbeat)
		fcntl((int)cfg.hb_fd, F_SETFD, FD_CLOEXEC);
	cfg.args[cfg.nargs] = NULL;
	daemon_environ();
	/* The sockets are made here, before pivot_root, at their host paths,
	 * and held by pid 1: a restarted daemon serves the same socket. */
	ln_fd = listen_unix(cfg.sock.p);
	char *dir = strdup(cfg.sock.p), *slash = strrchr(dir, '/');
	char root_sock[4096];
	if (slash)
		*slash = 0;
	snprintf(root_sock, sizeof root_sock, "%s/%s", slash ? dir : ".", ROOT_SOCK_NAME);
	root_ln = listen_unix(root_sock);
	if (fcntl(root_ln, F_SETFL, O_NONBLOCK) < 0)
		fail("root socket: %s", strerror(errno));
	setup_seat();
	/* Nothing started from here on may gain privileges. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("no_new_privs: %s", strerror(errno));
	if (start_daemon() < 0)
		fail("start daemon: %s", strerror(errno));
	dprintf(status_fd, "ok\n");
	close(status_fd);
	status_fd = -1;
	supervise(sfd);
}
