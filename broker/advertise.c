/*  advertise.c - the endpoint workers are told to connect to

    A broker bound to a wildcard (tcp://0.0.0.0:5592, or * for the host) cannot
    hand that address to workers: on their host it means their own
    machine, and they would wait for a broker that is not there. The
    address they are told is the one given (--advertise), else the bound
    endpoint with a wildcard host replaced by this host's routable
    address: what its host name resolves to (as cluster schedulers and
    dask do), else the first address of an interface that is up and not
    loopback. Loopback addresses (127.x, including Debian's 127.0.1.1 for
    the host name) are never advertised for a wildcard: a worker on
    another host could not use them.
*/
#include "broker_internal.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

static bool
routable(const struct sockaddr *sa)
{
    if (!sa || sa->sa_family != AF_INET)
        return false;
    uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
    return (a >> 24) != 127 && a != 0;
}

static bool
by_host_name(char *out, size_t size)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        return false;
    host[sizeof host - 1] = '\0';
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return false;
    bool found = false;
    for (struct addrinfo *r = res; r && !found; r = r->ai_next)
        if (routable(r->ai_addr))
            found = inet_ntop(AF_INET, &((struct sockaddr_in *)r->ai_addr)->sin_addr, out,
                              (socklen_t)size) != NULL;
    freeaddrinfo(res);
    return found;
}

static bool
by_interface(char *out, size_t size)
{
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0)
        return false;
    bool found = false;
    for (struct ifaddrs *i = list; i && !found; i = i->ifa_next)
        if ((i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK) && routable(i->ifa_addr))
            found = inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out,
                              (socklen_t)size) != NULL;
    freeifaddrs(list);
    return found;
}

char *
advertise_endpoint(const char *bound, const char *given)
{
    if (given && *given)
        return strdup(given);
    const char *wild[] = {"tcp://0.0.0.0:", "tcp://*:", "tcp://[::]:"};
    const char *port = NULL;
    for (size_t i = 0; i < sizeof wild / sizeof wild[0] && !port; i++)
        if (!strncmp(bound, wild[i], strlen(wild[i])))
            port = bound + strlen(wild[i]);
    if (!port)
        return strdup(bound);
    char addr[INET_ADDRSTRLEN];
    if (!by_host_name(addr, sizeof addr) && !by_interface(addr, sizeof addr))
        return NULL;
    char *ep = malloc(strlen(addr) + strlen(port) + 8);
    if (ep)
        sprintf(ep, "tcp://%s:%s", addr, port);
    return ep;
}
