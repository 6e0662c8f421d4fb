// Declarations glibc hides behind _GNU_SOURCE, which Swift's Glibc module is built without,
// and constants whose C macros Swift cannot import. Declarations only: no code.
#include <linux/nsfs.h>
#include <sched.h>
#include <spawn.h>
#include <sys/inotify.h>

int setns(int fd, int nstype);
int unshare(int flags);
int pipe2(int pipefd[2], int flags);
long getrandom(void *buffer, unsigned long length, unsigned int flags);
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);

static const unsigned long podwire_NS_GET_NSTYPE = NS_GET_NSTYPE;
static const int podwire_CLONE_NEWNET = 0x40000000;
static const unsigned int podwire_RENAME_NOREPLACE = 1;

// Swift resolves `flock` to glibc's struct of the same name; this declares the function
// under a name it can call, bound to the same symbol.
int podwire_flock(int fd, int operation) __asm__("flock");
