#define _GNU_SOURCE
#include "evento_system.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

int evento_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int evento_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

int evento_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int evento_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int evento_block_sigpipe(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    return pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int evento_child_exited(pid_t pid, int block) {
    siginfo_t info;
    for (;;) {
        memset(&info, 0, sizeof info);
        // WNOWAIT: the child stays a zombie, so its pid cannot be reused until the caller reaps it.
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) == 0) return info.si_pid == pid ? 1 : 0;
        if (errno != EINTR) return -1;
    }
}

int evento_spawn(pid_t *pid, const char *file, char *const argv[], char *const envp[], int in_fd, int out_fd,
                 int err_fd, const char *cwd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    if (cwd) posix_spawn_file_actions_addchdir_np(&actions, cwd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    // Nothing else of the server leaks into the child, whether or not it was opened close-on-exec (a
    // listening socket inherited by a container's conmon would keep the server's port bound after it exits).
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    // The child starts with no blocked signals and SIGPIPE at its default, whatever the calling thread had
    // (runtime threads block signals, and a worker with SIGTERM blocked could never be stopped).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(pid, file, &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int evento_tmpfile_cloexec(const char *dir) {
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    // File systems without O_TMPFILE: a named file, unlinked at once.
    char path[4096];
    snprintf(path, sizeof path, "%s/evento-tmp.XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    return fd;
}
