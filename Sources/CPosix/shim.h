// Linux interfaces Glibc's Swift overlay does not import: epoll, eventfd, TCP options.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
