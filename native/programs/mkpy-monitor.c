/* mkpy-monitor: the container's parent after `create` returns (conmon's role).
 *
 * Started by minikube_py/runtime/process.py: the runtime forks a process that
 * becomes a child subreaper (PR_SET_CHILD_SUBREAPER survives execve), forks the
 * process that clones the container, and then execve()s this program. When the
 * cloning process exits, the container's init is re-parented to us. We:
 *   1. read the container's pid from --pid-fd (EOF without a pid: create failed);
 *   2. copy the container's stdout/stderr pipes into a CRI-format log file:
 *        2026-11-26T12:00:00.000000000Z stdout F a full line
 *        2026-11-26T12:00:00.000000000Z stdout P a partial line (no newline for 100 ms)
 *   3. with --stdin-fd, hold the write end of the container's stdin pipe and
 *      listen on a unix socket (--attach-socket, a name inside the state
 *      directory): what an attached client sends is copied into that pipe.
 *      Holding the write end is what keeps the container's stdin open between
 *      attaches; with --stdin-once it is closed (the container reads EOF) when
 *      the first attached client hangs up - Kubernetes' `stdinOnce`;
 *   3b. with --console-fd (process.terminal, Kubernetes' `tty: true`), receive
 *      the pty master from the container's init over that socket (SCM_RIGHTS,
 *      runc's console-socket protocol) and hold it for the container's life:
 *      the terminal's output goes to the log as stdout, attach input to the
 *      master (stdinOnce: an end-of-file character, ^D, then we stop);
 *   4. reap every child (we are a subreaper) and, when the container's init
 *      exits, write exit.json {exitCode, signal, startedAt, finishedAt, oomKilled}
 *      atomically into the state directory, and exit.
 * It is a separate small C program so that a running container costs well under
 * 1 MiB of node memory, and so it outlives whatever started it (CLI or kubelet).
 *
 * usage: mkpy-monitor --id ID --state-dir DIR --pid-fd N
 *                     [--stdout-fd N --stderr-fd N --log PATH] [--oom-file F]
 *                     [--stdin-fd N] [--attach-socket NAME [--stdin-once 1]]
 *                     [--console-fd N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384 /* a longer line is written as P pieces (as CRI-O does) */
#define PARTIAL_FLUSH_MS 100 /* a partial line waits at most this long before it is logged */

struct stream {
    const char *name; /* "stdout" or "stderr" */
    int fd;           /* read end of the container's pipe, -1 when closed */
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static const char *id = "", *state_dir, *log_path, *oom_file;
static int log_fd = -1;

static void timestamp(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%09ldZ", ts.tv_nsec);
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* a full disk must not kill the container's parent */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* One CRI log record: "<time> <stream> <F|P> <text>\n". */
static void log_record(struct stream *s, const char *text, size_t n, char tag)
{
    if (log_fd < 0)
        return;
    char head[96];
    char ts[48];
    timestamp(ts, sizeof ts);
    int h = snprintf(head, sizeof head, "%s %s %c ", ts, s->name, tag);
    /* Assemble the record in one buffer so one write() keeps lines whole. */
    char rec[sizeof head + LINE_MAX_BYTES + 1];
    memcpy(rec, head, (size_t)h);
    memcpy(rec + h, text, n);
    rec[h + n] = '\n';
    write_all(log_fd, rec, (size_t)h + n + 1);
}

/* Read what is available; emit every complete line, keep the rest buffered. */
static void pump(struct stream *s)
{
    ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) { /* EOF (or error): flush a trailing partial line */
        if (s->len)
            log_record(s, s->buf, s->len, 'P');
        s->len = 0;
        close(s->fd);
        s->fd = -1;
        return;
    }
    s->len += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (s->buf[i] == '\n') {
            log_record(s, s->buf + start, i - start, 'F');
            start = i + 1;
        }
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    if (s->len == sizeof s->buf) { /* no newline in a full buffer */
        log_record(s, s->buf, s->len, 'P');
        s->len = 0;
    }
}

/* stdin for attach (conmon's attach socket, reduced to stdin): one client at a
 * time; its bytes go into the container's stdin pipe without ever blocking us -
 * a container that does not read its stdin must not stop its log being copied. */
struct attach {
    int listen_fd, client_fd, stdin_fd, once, tty;
    const char *name;
    char buf[4096];
    size_t len, off; /* bytes read from the client, not yet in the pipe */
};

static void attach_close_stdin(struct attach *a)
{
    if (a->stdin_fd >= 0 && a->tty)
        (void)!write(a->stdin_fd, "\x04", 1); /* a terminal has no EOF of its own: ^D is its end of input */
    if (a->stdin_fd >= 0)
        close(a->stdin_fd); /* the container's next read() returns 0 */
    a->stdin_fd = -1;
    if (a->listen_fd >= 0) {
        close(a->listen_fd);
        unlink(a->name); /* nobody can attach stdin any more */
    }
    a->listen_fd = -1;
}

static void attach_drop_client(struct attach *a)
{
    close(a->client_fd);
    a->client_fd = -1;
    a->len = a->off = 0;
    if (a->once)
        attach_close_stdin(a);
}

static int attach_listen(const char *name)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(name) >= sizeof addr.sun_path)
        return -1;
    strcpy(addr.sun_path, name); /* relative: we run in the state directory */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    unlink(name);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || chmod(name, 0600) < 0 || listen(fd, 4) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Listen for attach clients that write to `fd` (the stdin pipe, or the terminal's master). */
static void start_attach(struct attach *a, int fd)
{
    a->stdin_fd = fd;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    /* sun_path holds ~108 bytes; inside the state directory the name is short. */
    if (a->name && chdir(state_dir) == 0)
        a->listen_fd = attach_listen(a->name);
}

static void attach_step(struct attach *a, short listen_ev, short client_ev, short stdin_ev)
{
    if (a->listen_fd >= 0 && a->client_fd < 0 && (listen_ev & POLLIN))
        a->client_fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (a->client_fd >= 0 && a->len == 0 && (client_ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t r = read(a->client_fd, a->buf, sizeof a->buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            attach_drop_client(a);
            return;
        }
        if (r > 0)
            a->len = (size_t)r, a->off = 0;
    }
    if (a->len && a->stdin_fd >= 0 && (stdin_ev & (POLLOUT | POLLERR))) {
        ssize_t w = write(a->stdin_fd, a->buf + a->off, a->len - a->off);
        if (w < 0 && errno != EAGAIN && errno != EINTR) { /* EPIPE: the container closed its stdin */
            attach_close_stdin(a);
            if (a->client_fd >= 0)
                close(a->client_fd);
            a->client_fd = -1;
            a->len = a->off = 0;
            return;
        }
        if (w > 0 && (a->off += (size_t)w) == a->len)
            a->len = a->off = 0;
    }
}

/* The pty master the container's init sends (runc's console-socket protocol), or -1. */
static int receive_fd(int sock)
{
    char name[256];
    struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r;
    do
        r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    struct cmsghdr *c = r > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* "oom_kill N" from memory.events (v2) or memory.oom_control (v1). */
static long oom_kills(void)
{
    if (!oom_file)
        return 0;
    FILE *f = fopen(oom_file, "r");
    if (!f)
        return 0;
    char key[64];
    long value, found = 0;
    while (fscanf(f, "%63s %ld", key, &value) == 2)
        if (strcmp(key, "oom_kill") == 0)
            found = value;
    fclose(f);
    return found;
}

/* startedAt is written by `start` into <state dir>/started; copy it if present. */
static void read_started(char *out, size_t n)
{
    out[0] = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/started", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t r = read(fd, out, n - 1);
    close(fd);
    out[r > 0 ? r : 0] = 0;
    out[strcspn(out, "\n")] = 0;
}

static void write_exit(int status)
{
    int code = 0, sig = 0;
    if (WIFEXITED(status))
        code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) {
        sig = WTERMSIG(status);
        code = 128 + sig; /* the shell's convention, which CRI uses too */
    }
    char finished[48], started[64], tmp[4096], final[4096], json[512];
    timestamp(finished, sizeof finished);
    read_started(started, sizeof started);
    long ooms = oom_kills();
    int n = snprintf(json, sizeof json,
                     "{\"exitCode\": %d, \"signal\": %d, \"startedAt\": \"%s\", "
                     "\"finishedAt\": \"%s\", \"oomKilled\": %s}\n",
                     code, sig, started, finished, ooms > 0 ? "true" : "false");
    snprintf(tmp, sizeof tmp, "%s/.exit.json.tmp", state_dir);
    snprintf(final, sizeof final, "%s/exit.json", state_dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    write_all(fd, json, (size_t)n);
    fsync(fd);
    close(fd);
    rename(tmp, final); /* readers see the whole file or none */
}

static int read_pid(int fd)
{
    char buf[32];
    size_t n = 0;
    for (;;) { /* blocking: nothing is reaped before we know which pid matters */
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(buf, '\n', n)) /* the pid is one line; others may keep the pipe open */
            break;
    }
    close(fd);
    buf[n] = 0;
    return n ? atoi(buf) : -1;
}

int main(int argc, char **argv)
{
    int pid_fd = -1, out_fd = -1, err_fd = -1, console_fd = -1;
    struct attach at = {.listen_fd = -1, .client_fd = -1, .stdin_fd = -1};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--id")) id = v;
        else if (!strcmp(k, "--state-dir")) state_dir = v;
        else if (!strcmp(k, "--pid-fd")) pid_fd = atoi(v);
        else if (!strcmp(k, "--stdout-fd")) out_fd = atoi(v);
        else if (!strcmp(k, "--stderr-fd")) err_fd = atoi(v);
        else if (!strcmp(k, "--log")) log_path = v;
        else if (!strcmp(k, "--oom-file")) oom_file = v;
        else if (!strcmp(k, "--stdin-fd")) at.stdin_fd = atoi(v);
        else if (!strcmp(k, "--attach-socket")) at.name = v;
        else if (!strcmp(k, "--stdin-once")) at.once = atoi(v);
        else if (!strcmp(k, "--console-fd")) console_fd = atoi(v);
        else {
            fprintf(stderr, "mkpy-monitor: unknown argument %s\n", k);
            return 2;
        }
    }
    if (!state_dir || pid_fd < 0) {
        fprintf(stderr, "mkpy-monitor: --state-dir and --pid-fd are required\n");
        return 2;
    }
    (void)id; /* only in argv, so `ps` shows whose monitor this is */
    setsid(); /* no terminal or process group of the caller can signal us */

    /* SIGCHLD arrives as a readable fd, so one poll() waits for output and exits. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    if (log_path && (out_fd >= 0 || err_fd >= 0))
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    signal(SIGPIPE, SIG_IGN); /* a container that closed its stdin is EPIPE, not our death */
    if (at.stdin_fd >= 0)
        start_attach(&at, at.stdin_fd);

    int container = read_pid(pid_fd);
    struct stream streams[2] = {{.name = "stdout", .fd = out_fd}, {.name = "stderr", .fd = err_fd}};
    int done = container < 0, status = 0;

    while (!done) {
        /* A negative fd is ignored by poll(): closed streams and attach parts drop out. */
        struct pollfd p[7] = {{.fd = sfd, .events = POLLIN},
                              {.fd = streams[0].fd, .events = POLLIN},
                              {.fd = streams[1].fd, .events = POLLIN},
                              {.fd = at.client_fd < 0 ? at.listen_fd : -1, .events = POLLIN},
                              {.fd = at.len ? -1 : at.client_fd, .events = POLLIN},
                              {.fd = at.len ? at.stdin_fd : -1, .events = POLLOUT},
                              {.fd = console_fd, .events = POLLIN}};
        /* A partial line (a shell prompt, what a terminal echoes as you type) is logged as a P
         * record once nothing more came for a moment: attach, which follows the log, shows it. */
        int pending = streams[0].len || streams[1].len;
        int n = poll(p, 7, pending ? PARTIAL_FLUSH_MS : -1);
        if (n < 0 && errno != EINTR)
            break;
        if (n == 0) {
            for (int i = 0; i < 2; i++)
                if (streams[i].len) {
                    log_record(&streams[i], streams[i].buf, streams[i].len, 'P');
                    streams[i].len = 0;
                }
            continue;
        }
        if (p[6].revents) { /* the terminal arrives (or the init died before sending it) */
            int master = receive_fd(console_fd);
            close(console_fd);
            console_fd = -1;
            if (master >= 0) {
                /* The init's stdio is the pty's slave now: its output comes out of the master. */
                if (streams[0].fd >= 0)
                    close(streams[0].fd);
                streams[0].fd = master;
                if (at.name) {
                    at.tty = 1;
                    start_attach(&at, dup(master));
                }
                fcntl(master, F_SETFL, O_NONBLOCK);
            }
            continue;
        }
        attach_step(&at, p[3].revents, p[4].revents, p[5].revents);
        for (int i = 0; i < 2; i++)
            if (streams[i].fd >= 0 && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                pump(&streams[i]);
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == sizeof si)
                ;
        }
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0) /* reap everything re-parented to us */
            if (r == container) {
                status = st;
                done = 1;
            }
        if (r < 0 && errno == ECHILD && !done) /* should not happen: init vanished */
            break;
    }

    /* Drain what is still buffered in the pipes (non-blocking: a leftover
     * process outside a pid namespace may hold a pipe open forever). */
    for (int i = 0; i < 2; i++) {
        if (streams[i].fd < 0)
            continue;
        fcntl(streams[i].fd, F_SETFL, O_NONBLOCK);
        while (streams[i].fd >= 0) {
            size_t before = streams[i].len;
            struct pollfd q = {.fd = streams[i].fd, .events = POLLIN};
            if (poll(&q, 1, 0) <= 0)
                break;
            pump(&streams[i]);
            if (streams[i].fd >= 0 && streams[i].len == before && !(q.revents & POLLIN))
                break;
        }
        if (streams[i].fd >= 0 && streams[i].len)
            log_record(&streams[i], streams[i].buf, streams[i].len, 'P');
    }
    if (at.client_fd >= 0)
        close(at.client_fd);
    at.once = 0;
    attach_close_stdin(&at);
    if (container > 0 && done)
        write_exit(status);
    return done ? 0 : 1;
}
