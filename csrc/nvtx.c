/* NVTX ranges in one "tessera" domain, so nsys shows which public call ran.
 * NVTX3 is header-only and costs one predictable branch when no tool is attached. */
#include "internal.h"

#ifdef TESSERA_NVTX
#include <nvtx3/nvToolsExt.h>

static nvtxDomainHandle_t tsr_nvtx_domain(void)
{
    /* nvtxDomainCreateA is idempotent per name; caching it keeps the hot path cheap. */
    static _Thread_local nvtxDomainHandle_t domain;
    if (!domain) domain = nvtxDomainCreateA("tessera");
    return domain;
}

void tsr_nvtx_push(const char *name)
{
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name;
    nvtxDomainRangePushEx(tsr_nvtx_domain(), &a);
}

void tsr_nvtx_pop(void) { nvtxDomainRangePop(tsr_nvtx_domain()); }
#else
void tsr_nvtx_push(const char *name) { (void)name; }
void tsr_nvtx_pop(void) {}
#endif
