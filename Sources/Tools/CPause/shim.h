// What the pause program uses from glibc. Embedded Swift cannot import the Glibc module,
// so it sees these headers directly. Declarations only: no code.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
