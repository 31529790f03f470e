// seccomp_cost: what Wirepath's data-path sandbox costs one allowed system
// call, measured apart from any packet path (issue 12's benchmark).
//
// A ping-pong's on/off ratio on this host swings by ±10-30 % round to round,
// ten times the effect looked for; a tight loop of one cheap system call
// does not. Each round forks one child per variant, alternating their order:
//   off      no filter
//   allow-all a one-instruction filter that allows everything: what any
//            filter costs a call on this kernel (the seccomp entry work),
//            whatever it says
//   wirepath the filter Wirepath installs (wp_sandbox_install from
//            Sources/CWirepath, linked in, not copied): arch, nr, one test per
//            allowed call; the call measured is put LAST in the list, the
//            longest walk the filter has
//   uncached the same walk behind one load of args[0]: a filter that looks at
//            an argument cannot be precomputed by the kernel's seccomp action
//            cache (Linux 5.11+), so it runs on every call; this is what the
//            first variant would cost without that cache
// Each child times CALLS getppid() calls (the cheapest real syscall: no
// vDSO) and reports CPU ns per call (its own thread CPU clock, so time
// spent preempted on a loaded host does not count) through a pipe; the median of ROUNDS per
// variant is printed with its min-max, and the per-call difference.
//
//   seccomp_cost [-r ROUNDS] [-n CALLS] [-a ALLOWED]
// ALLOWED (default 40, about Wirepath's longest list) is the filter's length.
#define _GNU_SOURCE
#include "CWirepath.h"
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp_cost: add this architecture's AUDIT_ARCH_*"
#endif

enum { OFF, ALLOWALL, WIREPATH, UNCACHED, VARIANTS };
static const char *names[VARIANTS] = { "off", "allow-all", "wirepath", "uncached" };

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

// Filler numbers for the list: calls the loop never makes, none of them
// getppid; write, exit_group and clock_gettime come first (the child needs
// them to time itself and end).
static int fill(int *allowed, int want) {
    static const char *calls[] = {
        "read", "pread64", "close", "openat", "newfstatat", "fstat", "getdents64", "mmap", "munmap",
        "mprotect", "madvise", "mremap", "brk", "getrandom", "futex", "sched_yield", "nanosleep",
        "clock_nanosleep", "getrusage", "gettid", "getpid", "rt_sigprocmask", "rt_sigreturn",
        "tgkill", "exit", "ioctl", "perf_event_open", "recvfrom", "sendto", "recvmsg", "sendmsg",
        "getsockopt", "epoll_wait", "epoll_pwait", "recvmmsg", "sendmmsg", "io_uring_enter",
        "io_uring_register", "poll", "ppoll", "bpf", "socket", "bind", "setsockopt", "getsockname",
    };
    int n = 0;
    allowed[n++] = wp_syscall_number("write");
    allowed[n++] = wp_syscall_number("exit_group");
    allowed[n++] = wp_syscall_number("clock_gettime"); // the thread CPU clock is a real call
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]) && n < want - 1; i++) {
        int nr = wp_syscall_number(calls[i]);
        if (nr >= 0) allowed[n++] = nr;
    }
    allowed[n++] = SYS_getppid; // last: the longest walk
    return n;
}

static int install_allow_all(void) {
    struct sock_filter f[1] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
    struct sock_fprog prog = { .len = 1, .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return -errno;
    return 0;
}

// The uncached control: Wirepath's shape, but args[0] is loaded first, so
// the kernel cannot decide any call by its number alone.
static int install_uncached(const int *allowed, int count) {
    struct sock_filter f[256];
    int n = 0;
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < count; i++)
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], (unsigned char)(count - i), 0);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = { .len = (unsigned short)n, .filter = f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -errno;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return -errno;
    return 0;
}

static double child_run(int variant, const int *allowed, int count, long calls) {
    int fd[2];
    if (pipe(fd) != 0) { perror("pipe"); exit(2); }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); exit(2); }
    if (pid == 0) {
        close(fd[0]);
        int rc = 0;
        if (variant == ALLOWALL) rc = install_allow_all();
        if (variant == WIREPATH) rc = wp_sandbox_install(allowed, count, 0);
        if (variant == UNCACHED) rc = install_uncached(allowed, count);
        double per = -1;
        if (rc == 0) {
            for (int i = 0; i < 10000; i++) syscall(SYS_getppid); // warm
            double t0 = now_ns();
            for (long i = 0; i < calls; i++) syscall(SYS_getppid);
            per = (now_ns() - t0) / (double)calls;
        }
        if (write(fd[1], &per, sizeof per) != sizeof per) _exit(3);
        _exit(rc == 0 ? 0 : 4);
    }
    close(fd[1]);
    double per = -1;
    ssize_t got = read(fd[0], &per, sizeof per);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got != sizeof per || per < 0) {
        fprintf(stderr, "error: variant %s failed (status %d): installing a filter needs Linux 3.5+ with seccomp\n", names[variant], status);
        exit(2);
    }
    return per;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rounds = 15, want = 40, opt;
    long calls = 2000000;
    while ((opt = getopt(argc, argv, "r:n:a:")) != -1) {
        if (opt == 'r') rounds = atoi(optarg);
        else if (opt == 'n') calls = atol(optarg);
        else if (opt == 'a') want = atoi(optarg);
        else { fprintf(stderr, "usage: %s [-r ROUNDS] [-n CALLS] [-a ALLOWED]\n", argv[0]); return 64; }
    }
    if (rounds < 1 || rounds > 1000 || calls < 1000 || calls > 1000000000L || want < 3 || want > 180) {
        fprintf(stderr, "error: ROUNDS 1-1000, CALLS 1000-1e9, ALLOWED 3-180\n");
        return 64;
    }
    int allowed[200];
    int count = fill(allowed, want);
    double per[VARIANTS][1000];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < VARIANTS; k++) {
            int v = (r + k) % VARIANTS; // rotate who goes first
            per[v][r] = child_run(v, allowed, count, calls);
        }
    printf("seccomp_cost: %d rounds x %ld getppid() calls, filter of %d allowed calls (the measured one last)\n", rounds, calls, count);
    double med[VARIANTS];
    for (int v = 0; v < VARIANTS; v++) {
        qsort(per[v], rounds, sizeof(double), cmp);
        med[v] = per[v][rounds / 2];
        printf("%-9s %7.1f ns/call  [%.1f-%.1f]\n", names[v], med[v], per[v][0], per[v][rounds - 1]);
    }
    printf("per allowed call: any filter (allow-all - off) %+.1f ns; Wirepath's filter (wirepath - off) %+.1f ns; "
           "without the kernel's action cache (uncached - off) %+.1f ns\n",
           med[ALLOWALL] - med[OFF], med[WIREPATH] - med[OFF], med[UNCACHED] - med[OFF]);
    return 0;
}
