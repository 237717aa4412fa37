// SPDX-License-Identifier: MIT
// tests/install/use_cxx.cc — a C++ program built against the installed
// poolmalloc with pkg-config (shared and static): operator new hands out
// blocks poolmalloc accounts for, and sized delete is poolmalloc's (a wrong
// size aborts with its diagnostic, where libstdc++'s would ignore it).
// Exit 0 when both hold.
#include <poolmalloc.h>
#include <csignal>
#include <cstdio>
#include <new>
#include <sys/wait.h>
#include <unistd.h>

int main() {
  pm_stats_t before, during;
  pm_stats_get(&before);
  char *volatile p = new char[1000];
  pm_stats_get(&during);
  bool counted = during.small_allocated >= before.small_allocated + 1000;
  delete[] p;
  pid_t pid = fork();
  if (pid == 0) {
    ::operator delete(::operator new(100), 5000);  // the block holds 112 bytes
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  bool sized = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  std::printf("new counted by poolmalloc: %d; wrong sized delete aborts: %d\n", counted, sized);
  return counted && sized ? 0 : 1;
}
